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

type bodyField struct {
	name, kind string
	size       int
}

// bodyFields lay out the 7-byte body of version 1, and bodyFieldsV2 the
// 6-byte body of version 2: name, kind, size.
var (
	bodyFields   = []bodyField{{"time", "time", 2}, {"port", "port", 2}, {"duration", "duration", 1}, {"flags, nonce", "nonce", 2}}
	bodyFieldsV2 = []bodyField{{"time offset, flags", "time", 1}, {"port", "port", 2}, {"duration", "duration", 1}, {"nonce", "nonce", 2}}
)

// layout is where a message's parts lie, by its version.
type layout struct {
	version byte
	clear   int // header, and version 2's hint: before the address
	body    int
	fields  []bodyField
}

func layoutOf(b []byte) layout {
	if b[0]>>4 == sealed.Version2 {
		return layout{sealed.Version2, 1 + sealed.HintSize, sealed.BodyV2Size, bodyFieldsV2}
	}
	return layout{sealed.Version, 1, sealed.BodySize, bodyFields}
}

// sealedResult lays out message b (from SealNonce, or checked by Decode or
// ParseSPA), and m, what it says: nil when it did not authenticate, and
// then only what travels in clear is shown.
func sealedResult(action string, s sealedSetup, b []byte, m *sealed.Message) *Result {
	typ, lay := b[0]&3, layoutOf(b)
	r := &Result{
		Mode: "sealed", Action: action, Cipher: "HMAC-SHA256, synthetic IV",
		Format: fmt.Sprintf("sealed v%d, %s, %d bytes", lay.version, addrTypes[typ], len(b)),
		Notes:  append([]string(nil), s.notes...), Sealed: ints(b), SealedParts: wireParts(b, m),
		Values: map[string]any{"version": int(lay.version), "header": fmt.Sprintf("%#02x", b[0]), "tag": hex.EncodeToString(b[len(b)-sealed.TagSize:])},
	}
	if lay.version == sealed.Version2 && s.user != "" {
		r.Format = fmt.Sprintf("sealed v%d for user %q and %s, %s, %d bytes", lay.version, s.user, serverText(s.server), addrTypes[typ], len(b))
		r.Values["server"] = s.server
	}
	if lay.version == sealed.Version2 {
		r.Values["hint"] = hex.EncodeToString(b[1 : 1+sealed.HintSize])
	}
	if m != nil {
		plain := slices.Concat(b[:len(b)-sealed.TagSize-lay.body], plainBody(m, lay))
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

// plainBody is the body before encryption (docs/sealed.md, "Message",
// and "Version 2").
func plainBody(m *sealed.Message, lay layout) []byte {
	if lay.version == sealed.Version2 {
		b := make([]byte, sealed.BodyV2Size)
		b[0] = byte(offsetOf(m.Time)) << 2
		if m.Close {
			b[0] |= 2
		}
		if m.Proto == sealed.UDP {
			b[0] |= 1
		}
		binary.BigEndian.PutUint16(b[1:], m.Port)
		b[3] = durationCode(m.Duration)
		binary.BigEndian.PutUint16(b[4:], m.Nonce)
		return b
	}
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

// offsetOf is a time's second in its version 2 bucket.
func offsetOf(t time.Time) int64 {
	period := int64(sealed.HintPeriod / time.Second)
	return t.Unix() - t.Unix()/period*period
}

// clearParts are the header, version 2's hint and the address: in clear
// in both steps.
func clearParts(b []byte, role string) []Part {
	typ, lay := b[0]&3, layoutOf(b)
	parts := []Part{{Name: "header", Kind: "header", Role: role,
		Text: fmt.Sprintf("version %d, type %d: %s", lay.version, typ, addrTypes[typ]), Bytes: ints(b[:1])}}
	if lay.version == sealed.Version2 {
		parts = append(parts, Part{Name: "hint", Kind: "header", Role: role,
			Text: "names the user's key for this minute, without naming the user: it changes every minute", Start: 1, Bytes: ints(b[1:lay.clear])})
	}
	if n := addrLen[typ]; n > 0 {
		a := b[lay.clear : lay.clear+n]
		parts = append(parts, Part{Name: "address", Kind: "client", Role: role, Text: addrText(a), Start: lay.clear, Bytes: ints(a)})
	}
	return parts
}

func addrText(a []byte) string {
	ip, _ := netip.AddrFromSlice(a)
	return ip.String()
}

// plainMessageParts labels the message in clear: header, address, body.
func plainMessageParts(plain []byte, m *sealed.Message) []Part {
	parts, lay := clearParts(plain, ""), layoutOf(plain)
	off := len(plain) - lay.body
	for i, f := range lay.fields {
		parts = append(parts, Part{Name: f.name, Kind: f.kind, Text: bodyText(i, m, lay), Start: off, Bytes: ints(plain[off : off+f.size])})
		off += f.size
	}
	return parts
}

// bodyText is a body field's value as people write it.
func bodyText(i int, m *sealed.Message, lay layout) string {
	what := "open"
	if m.Close {
		what = "close"
	}
	switch {
	case lay.version == sealed.Version2 && i == 0:
		return fmt.Sprintf("second %d of the minute the hint names (%s, Unix %d); %s, %s", offsetOf(m.Time), m.Time.UTC().Format(time.RFC3339), m.Time.Unix(), what, m.Proto)
	case lay.version == sealed.Version2 && i == 3:
		return fmt.Sprintf("nonce %d", m.Nonce)
	}
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
	return fmt.Sprintf("%s, %s, nonce %d", what, m.Proto, m.Nonce)
}

// wireParts labels the message as sent. The body is cut into the fields
// it encrypts only when the tag matched: otherwise nothing says what it
// holds.
func wireParts(b []byte, m *sealed.Message) []Part {
	parts, lay := clearParts(b, "in clear"), layoutOf(b)
	off := len(b) - sealed.TagSize - lay.body
	if m == nil {
		parts = append(parts, Part{Name: "body", Kind: "ciphertext", Role: "encrypted",
			Text: "not decrypted: the tag does not match", Start: off, Bytes: ints(b[off : off+lay.body])})
	} else {
		for _, f := range lay.fields {
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
	if m.User != "" {
		v["user"] = m.User
	}
	if id := m.ReplayID(); id != [16]byte{} {
		v["replay_id"] = hex.EncodeToString(id[:])
	}
}

// sealedFields is the form filled back from an opened message.
// The user and server come back as the version asks: empty for version
// 1, so that encoding the fields again makes the same knock.
func sealedFields(m sealed.Message, s sealedSetup, v2 bool, sequence string) map[string]string {
	out := map[string]string{"user": "", "server": ""}
	for _, k := range sealedValues {
		out[k] = ""
	}
	if v2 {
		out["user"], out["server"] = s.user, s.server
	}
	spa := s.spa
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
