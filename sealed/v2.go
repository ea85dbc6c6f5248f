package sealed

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"
	"unicode/utf8"
)

// Version 2 (docs/sealed.md, "Version 2"): many users on one daemon, and
// the server's name in what a knock authenticates.
//
//	wire = header || hint || carried address || body XOR keystream || tag
//
// The hint is the first 16 bits of a PRF of the time bucket under the
// user's hint key: it changes every HintPeriod, so it is no fixed
// identifier, and the daemon precomputes, for the buckets of its window,
// a table from hints to keys (Keyring).
const (
	Version2 = 2 // the header's high nibble

	HintSize   = 2
	BodyV2Size = 6 // offset6|close|udp, port16, duration code, nonce16

	SizeV2Implicit = HeaderSize + HintSize + BodyV2Size + TagSize // 17
	SizeV2IPv4     = SizeV2Implicit + 4                           // 21
	SizeV2IPv6     = SizeV2Implicit + 16                          // 33

	// HintPeriod is the length of a time bucket: the hint rotates with it,
	// and the body carries the time as seconds into its bucket.
	HintPeriod = 60 * time.Second

	// SlotCap bounds the keys that share one hint in one bucket's table;
	// more are shed (Keyring.Shed). With the tables of a window of w, a
	// packet is tried against at most (2w/HintPeriod + 2) × SlotCap keys,
	// 3 × 8 = 24 at the default window.
	SlotCap = 8

	// MaxWindowV2 bounds a Keyring's window: every bucket it touches is
	// a table to keep and to look in.
	MaxWindowV2 = 5 * time.Minute

	// MaxNameLen bounds user and server names: each is length-prefixed
	// by one byte in the key derivation.
	MaxNameLen = 255
)

// sizesV2 lists the version 2 message sizes by address type.
var sizesV2 = [...]int{SizeV2Implicit, SizeV2IPv4, SizeV2IPv6}

const periodSeconds = int64(HintPeriod / time.Second)

// HKDF-SHA256 info strings of version 2, followed by the user's and the
// server's names, each after its length in one byte.
const (
	infoV2MAC  = "knock sealed v2 authentication"
	infoV2Enc  = "knock sealed v2 encryption"
	infoV2Hint = "knock sealed v2 hint"
)

// keysV2 are one user key's version 2 subkeys for one server.
type keysV2 struct {
	hint [KeySize]byte
	pool sync.Pool // of *scratch under the v2 MAC and encryption subkeys
}

func deriveV2(k *Key, user, server string) *keysV2 {
	tail := string([]byte{byte(len(user))}) + user + string([]byte{byte(len(server))}) + server
	macKey := subkey(k.s.master[:], infoV2MAC+tail)
	encKey := subkey(k.s.master[:], infoV2Enc+tail)
	ks := &keysV2{}
	copy(ks.hint[:], subkey(k.s.master[:], infoV2Hint+tail))
	ks.pool.New = func() any {
		return &scratch{mac: hmac.New(sha256.New, macKey), enc: hmac.New(sha256.New, encKey)}
	}
	return ks
}

// checkName refuses a user or server name that cannot be derived from:
// too long, not UTF-8, or holding control characters. An empty server
// name is the default (it binds no server); an empty user name is
// refused.
func checkName(what, name string) error {
	switch {
	case len(name) > MaxNameLen:
		return fmt.Errorf("%s name %q is %d bytes, at most %d", what, name, len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s name %q is not UTF-8", what, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s name %q holds a control character", what, name)
		}
	}
	return nil
}

// bucketOf is the time bucket of Unix second t.
func bucketOf(t int64) int64 {
	b := t / periodSeconds
	if t%periodSeconds < 0 {
		b--
	}
	return b
}

// hintOf is the hint of bucket b under a hint key:
// HMAC-SHA256(hintKey, int64 bucket)[0:2], as a number.
func hintOf(hintKey *[KeySize]byte, b int64) uint16 {
	h := hmac.New(sha256.New, hintKey[:])
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(b)))
	return binary.BigEndian.Uint16(h.Sum(nil))
}

// macInputSizeV2 is the longest version 2 MAC input: header, hint,
// family, IPv6 address, time64, body.
const macInputSizeV2 = 1 + HintSize + 1 + 16 + 8 + BodyV2Size

// tagV2 computes a version 2 MAC into sc.sum and returns its first
// TagSize bytes.
func (sc *scratch) tagV2(h byte, hint uint16, a netip.Addr, t int64, body *[BodyV2Size]byte) []byte {
	in := binary.BigEndian.AppendUint16(append(sc.in2[:0], h), hint)
	if a.Is4() {
		v := a.As4()
		in = append(append(in, 4), v[:]...)
	} else {
		v := a.As16()
		in = append(append(in, 6), v[:]...)
	}
	in = binary.BigEndian.AppendUint64(in, uint64(t))
	in = append(in, body[:]...)
	sc.mac.Reset()
	sc.mac.Write(in)
	sc.mac.Sum(sc.sum[:0])
	return sc.sum[:TagSize]
}

// Sender seals version 2 messages for one user, key and server: the
// client's side. It is safe for concurrent use.
type Sender struct {
	keys *keysV2
}

// NewSender derives a user's version 2 subkeys for the server named
// server. The daemon's Keyring must know the same user name, key and
// server name. The empty server name is the default: it binds no server,
// so the knock opens every gate that holds the user's key and has no
// server name either.
func NewSender(user string, key *Key, server string) (*Sender, error) {
	if user == "" {
		return nil, errors.New("a version 2 knock needs a user name")
	}
	if err := checkName("user", user); err != nil {
		return nil, err
	}
	if err := checkName("server", server); err != nil {
		return nil, err
	}
	if key == nil || key.s == nil {
		return nil, errors.New("a version 2 knock needs a key")
	}
	return &Sender{deriveV2(key, user, server)}, nil
}

// Seal draws a fresh 16-bit nonce from rand (crypto/rand.Reader),
// ignoring m.Nonce, and seals m as a version 2 message.
func (s *Sender) Seal(m Message, rand io.Reader) ([]byte, error) {
	var b [2]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("drawing a nonce: %w", err)
	}
	m.Nonce = binary.BigEndian.Uint16(b[:])
	return s.SealNonce(m)
}

// SealNonce seals m as a version 2 message with the nonce it carries.
func (s *Sender) SealNonce(m Message) ([]byte, error) {
	typ, addr, err := m.address()
	if err != nil {
		return nil, err
	}
	body, err := m.bodyV2()
	if err != nil {
		return nil, err
	}
	t := m.Time.Unix()
	h := byte(Version2<<4) | typ
	hint := hintOf(&s.keys.hint, bucketOf(t))
	sc := s.keys.pool.Get().(*scratch)
	defer s.keys.pool.Put(sc)
	tag := sc.tagV2(h, hint, addr, t, &body)

	out := make([]byte, 0, sizesV2[typ])
	out = binary.BigEndian.AppendUint16(append(out, h), hint)
	if typ != AddrImplicit {
		out = append(out, addr.AsSlice()...)
	}
	out = append(out, body[:]...)
	subtle.XORBytes(out[len(out)-BodyV2Size:], body[:], sc.keystream(tag)[:BodyV2Size])
	return append(out, tag...), nil
}

// bodyV2 checks the fields as version 1 does (but for the nonce, which
// has 16 bits here) and lays out the version 2 body's plaintext.
func (m Message) bodyV2() ([BodyV2Size]byte, error) {
	var b [BodyV2Size]byte
	v1 := m
	v1.Nonce = 0
	b7, err := v1.body()
	if err != nil {
		return b, err
	}
	t := m.Time.Unix()
	flags := binary.BigEndian.Uint16(b7[5:])
	b[0] = byte(t-bucketOf(t)*periodSeconds)<<2 | byte(flags>>14)
	copy(b[1:4], b7[2:5]) // port, duration code
	binary.BigEndian.PutUint16(b[4:], m.Nonce)
	return b, nil
}

// openV2 tries one key on a version 2 message whose length and header
// were checked, reading its time in bucket. ok is false when the tag does
// not match; err is set for an authentic message out of range.
func (ks *keysV2) open(b []byte, addr netip.Addr, bucket int64) (m Message, ok bool, err error) {
	tag := b[len(b)-TagSize:]
	sc := ks.pool.Get().(*scratch)
	defer ks.pool.Put(sc)
	var body [BodyV2Size]byte
	subtle.XORBytes(body[:], b[len(b)-TagSize-BodyV2Size:len(b)-TagSize], sc.keystream(tag)[:BodyV2Size])
	offset := int64(body[0] >> 2)
	t := bucket*periodSeconds + offset
	if subtle.ConstantTimeCompare(sc.tagV2(b[0], binary.BigEndian.Uint16(b[1:]), addr, t, &body), tag) != 1 {
		return Message{}, false, nil
	}
	// Lay the fields out as version 1 does, to check them in one place.
	var b7 [BodySize]byte
	copy(b7[2:5], body[1:4])
	b7[5] = body[0] << 6
	m, err = fields(&b7, t)
	switch {
	case err != nil:
		return Message{}, true, err
	case offset >= periodSeconds:
		return Message{}, true, fmt.Errorf("%w: time offset %d in its bucket, at most %d", ErrMalformed, offset, periodSeconds-1)
	case addr.IsUnspecified() || addr.Is4In6():
		return Message{}, true, fmt.Errorf("%w: client address %s", ErrMalformed, addr)
	}
	m.Nonce = binary.BigEndian.Uint16(body[4:])
	m.Client, m.Implicit = addr, b[0]&3 == AddrImplicit
	copy(m.id[:], sc.sum[:])
	return m, true, nil
}
