package sealed

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/netip"
)

// The construction, in one place (docs/sealed.md, "Sealing"):
//
//	tag       = HMAC-SHA256(macKey, header || family || address || time64 || body)[:TagSize]
//	keystream = HMAC-SHA256(encKey, tag)[:BodySize]
//	wire      = header || carried address || body XOR keystream || tag
//
// The tag is a synthetic IV: the keystream depends on the whole message,
// so only a repeated message repeats it, and that is a replay.

// macInputSize is the longest MAC input: header, family, IPv6 address,
// time64, body.
const macInputSize = 1 + 1 + 16 + 8 + BodySize

// scratch is one HMAC under each subkey and room for their work.
type scratch struct {
	mac, enc hash.Hash
	in       [macInputSize]byte
	in2      [macInputSizeV2]byte
	sum, pad [sha256.Size]byte
}

// tag computes the MAC of a message into sc.sum and returns its first
// TagSize bytes.
func (sc *scratch) tag(h byte, a netip.Addr, t int64, body *[BodySize]byte) []byte {
	sc.mac.Reset()
	sc.mac.Write(macInput(&sc.in, h, a, t, body))
	sc.mac.Sum(sc.sum[:0])
	return sc.sum[:TagSize]
}

// keystream returns the BodySize bytes that encrypt the body under tag.
func (sc *scratch) keystream(tag []byte) []byte {
	sc.enc.Reset()
	sc.enc.Write(tag)
	sc.enc.Sum(sc.pad[:0])
	return sc.pad[:BodySize]
}

// macInput lays out what the tag covers: header, the address as family
// (4 or 6) and bytes, the full timestamp as 8 bytes, and the body.
func macInput(buf *[macInputSize]byte, h byte, a netip.Addr, t int64, body *[BodySize]byte) []byte {
	out := append(buf[:0], h)
	if a.Is4() {
		v := a.As4()
		out = append(append(out, 4), v[:]...)
	} else {
		v := a.As16()
		out = append(append(out, 6), v[:]...)
	}
	out = binary.BigEndian.AppendUint64(out, uint64(t))
	return append(out, body[:]...)
}
