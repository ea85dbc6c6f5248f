package lab

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/portknock/knock/sealed"
)

// The sealed knock laid out in the lab's three steps: the message in
// clear (what the tag covers), the message as sent (header and address
// in clear, the body encrypted, the tag), and its ports or its datagram.

// addrTypes name the header's address types, and addrLen gives the
// length of the address each carries.
var (
	addrTypes = [...]string{"implicit address", "IPv4 address", "IPv6 address"}
	addrLen   = [...]int{0, 4, 16}
)

// bodyFields lay out the 7-byte body: name, kind, size.
var bodyFields = [...]struct {
	name, kind string
	size       int
}{{"time", "time", 2}, {"port", "port", 2}, {"duration", "duration", 1}, {"flags, nonce", "nonce", 2}}

// sealedResult lays out message b (from SealNonce, or checked by Decode or
// ParseSPA), and m, what it says: nil when it did not authenticate, and
// then only what travels in clear is shown.
func sealedResult(action string, s sealedSetup, b []byte, m *sealed.Message) *Result {
	typ := b[0] & 3
	r := &Result{
		Mode: "sealed", Action: action, Cipher: "HMAC-SHA256, synthetic IV",
		Format: fmt.Sprintf("sealed v%d, %s, %d bytes", sealed.Version, addrTypes[typ], len(b)),
		Notes:  append([]string(nil), s.notes...), Sealed: ints(b), SealedParts: wireParts(b, m),
		Values: map[string]any{"header": fmt.Sprintf("%#02x", b[0]), "tag": hex.EncodeToString(b[len(b)-sealed.TagSize:])},
	}
	if m != nil {
		plain := slices.Concat(b[:len(b)-sealed.TagSize-sealed.BodySize], plainBody(m))
		r.Plain, r.PlainParts = ints(plain), plainMessageParts(plain, m)
		messageValues(r.Values, m)
		if m.Implicit {
			r.Notes = append(r.Notes, fmt.Sprintf("the address %s is implicit: it is not sent, and the tag covers it as the packets' source address", m.Client))
		}
	}
	if s.spa {
		d := sealed.MarshalSPA(b)
		r.Datagram, r.Sequence = ints(d), hex.EncodeToString(d)
		r.DatagramParts = []Part{
			{Name: "SPA magic", Kind: "header", Text: `"KNK" and framing version 1`, Bytes: ints(d[:len(sealed.SPAMagic)])},
			{Name: "message", Kind: "ciphertext", Text: "the bytes of step 2", Start: len(sealed.SPAMagic), Bytes: ints(b)},
		}
		return r
	}
	ports := sealed.Encode(s.span, b)
	symbols := make([]int, len(ports))
	for i, p := range ports {
		symbols[i], _ = s.span.Index(p)
	}
	r.Span, r.SpanSize, r.Bits = s.span.String(), s.span.Size(), s.span.Bits()
	r.Ports, r.Sequence = ints16(ports), joinPorts(ports)
	r.Groups = groups(b, symbols, ports, r.SealedParts, s.span.Bits())
	return r
}

// plainBody is the body before encryption (docs/sealed.md, "Message").
func plainBody(m *sealed.Message) []byte {
	b := make([]byte, sealed.BodySize)
	binary.BigEndian.PutUint16(b[0:], uint16(m.Time.Unix()))
	binary.BigEndian.PutUint16(b[2:], m.Port)
	b[4] = durationCode(m.Duration)
	flags := m.Nonce
	if m.Close {
		flags |= 1 << 15
	}
	if m.Proto == sealed.UDP {
		flags |= 1 << 14
	}
	binary.BigEndian.PutUint16(b[5:], flags)
	return b
}

// clearParts are the header and the address: in clear in both steps.
func clearParts(b []byte, role string) []Part {
	typ := b[0] & 3
	parts := []Part{{Name: "header", Kind: "header", Role: role,
		Text: fmt.Sprintf("version %d, type %d: %s", sealed.Version, typ, addrTypes[typ]), Bytes: ints(b[:1])}}
	if n := addrLen[typ]; n > 0 {
		a := b[1 : 1+n]
		parts = append(parts, Part{Name: "address", Kind: "client", Role: role, Text: addrText(a), Start: 1, Bytes: ints(a)})
	}
	return parts
}

func addrText(a []byte) string {
	ip, _ := netip.AddrFromSlice(a)
	return ip.String()
}

// plainMessageParts labels the message in clear: header, address, body.
func plainMessageParts(plain []byte, m *sealed.Message) []Part {
	parts := clearParts(plain, "")
	off := len(plain) - sealed.BodySize
	for i, f := range bodyFields {
		parts = append(parts, Part{Name: f.name, Kind: f.kind, Text: bodyText(i, m), Start: off, Bytes: ints(plain[off : off+f.size])})
		off += f.size
	}
	return parts
}

// bodyText is a body field's value as people write it.
func bodyText(i int, m *sealed.Message) string {
	switch i {
	case 0:
		return fmt.Sprintf("%s: the low 16 bits of Unix %d", m.Time.UTC().Format(time.RFC3339), m.Time.Unix())
	case 1:
		if name := serviceName(int(m.Port)); name != "" {
			return fmt.Sprintf("%d (%s)", m.Port, name)
		}
		return strconv.Itoa(int(m.Port))
	case 2:
		if m.Duration == 0 {
			return "0x00: the daemon's default"
		}
		n, u := splitDuration(m.Duration)
		return fmt.Sprintf("%#02x: %d %s", durationCode(m.Duration), n, units[u].name)
	}
	what := "open"
	if m.Close {
		what = "close"
	}
	return fmt.Sprintf("%s, %s, nonce %d", what, m.Proto, m.Nonce)
}

// wireParts labels the message as sent. The body is cut into the fields
// it encrypts only when the tag matched: otherwise nothing says what it
// holds.
func wireParts(b []byte, m *sealed.Message) []Part {
	parts := clearParts(b, "in clear")
	off := len(b) - sealed.TagSize - sealed.BodySize
	if m == nil {
		parts = append(parts, Part{Name: "body", Kind: "ciphertext", Role: "encrypted",
			Text: "not decrypted: the tag does not match", Start: off, Bytes: ints(b[off : off+sealed.BodySize])})
	} else {
		for _, f := range bodyFields {
			parts = append(parts, Part{Name: f.name, Kind: "ciphertext", Role: "encrypted", Start: off, Bytes: ints(b[off : off+f.size])})
			off += f.size
		}
	}
	return append(parts, Part{Name: "tag", Kind: "tag", Role: "in clear",
		Text: "HMAC-SHA256 of the message in clear, 8 bytes; the IV of the body's encryption", Start: len(b) - sealed.TagSize,
		Bytes: ints(b[len(b)-sealed.TagSize:])})
}

// messageValues adds what m says to the result's values.
func messageValues(v map[string]any, m *sealed.Message) {
	v["client"], v["implicit"], v["port"], v["proto"] = m.Client.String(), m.Implicit, int(m.Port), m.Proto
	v["duration"], v["close"], v["nonce"] = m.Duration.String(), m.Close, int(m.Nonce)
	v["time"], v["unix"] = m.Time.UTC().Format(time.RFC3339), m.Time.Unix()
	if id := m.ReplayID(); id != [16]byte{} {
		v["replay_id"] = hex.EncodeToString(id[:])
	}
}

// sealedFields is the form filled back from an opened message.
func sealedFields(m sealed.Message, spa bool, sequence string) map[string]string {
	out := map[string]string{}
	for _, k := range sealedValues {
		out[k] = ""
	}
	out["ip"], out["proto"], out["sequence"] = m.Client.String(), m.Proto, sequence
	out["timestamp"], out["nonce"] = m.Time.UTC().Format(time.RFC3339), strconv.Itoa(int(m.Nonce))
	if m.Implicit {
		out["implicit"] = "on"
	}
	if m.Close {
		out["close"] = "on"
	}
	if spa {
		out["spa"] = "on"
	}
	out["port"] = strconv.Itoa(int(m.Port))
	if serviceName(int(m.Port)) != "" {
		out["service"], out["port"] = out["port"], ""
	}
	n, u := splitDuration(m.Duration)
	out["unit"] = units[u].name
	if n > 0 {
		out["duration"] = strconv.Itoa(n)
	}
	return out
}
