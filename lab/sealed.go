package lab

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

// sealedMode is the authenticated knock of package sealed
// (docs/sealed.md): a message that names the address, port, protocol and
// duration it asks for, with a timestamp and a nonce, under a 64-bit tag;
// sent over a port span, or as one UDP datagram (SPA).
//
// The lab seals with the nonce and time it is given (SealNonce), so that
// a knock can be made again byte for byte; real clients draw a nonce each
// time. It opens as the daemon does, against the lab's clock within the
// window, but has no replay cache: the same knock opens every time.
type sealedMode struct{}

// sealedSetup is what both ends must agree on besides the key: how the
// message travels, and how fresh it must be.
type sealedSetup struct {
	span   *portspan.Span // nil for SPA
	spa    bool
	window time.Duration
	source netip.Addr // decoding: the address an implicit message came from
	// user and server: with a user, the lab seals version 2 for this user
	// and server name, and opens version 2 as a one-user keyring would.
	user, server string
	notes        []string
}

// nameKey is a key for checking names alone, before the real key is
// read or derived.
var nameKey, _ = sealed.NewKey(make([]byte, sealed.KeySize))

// readSealedSetup reads the SPA box, the span, the window and the source
// address. spa says whether the knock is a datagram.
func readSealedSetup(f Form, spa bool, errs Errors) sealedSetup {
	s := sealedSetup{spa: spa, window: sealed.DefaultWindow}
	switch {
	case strings.TrimSpace(f.Span) != "":
		sp, err := portspan.Parse(f.Span)
		if err != nil {
			errs.add("span", "%v", err)
		}
		if spa {
			s.notes = append(s.notes, "single-packet authorization: the knock is one datagram, and the port span is not used")
		} else {
			s.span = sp
		}
	case !spa:
		errs.add("span", "required: the 2^N ports the knock goes to, such as 40000-40255 (or tick SPA for one datagram)")
	}
	if w := strings.TrimSpace(f.Window); w != "" {
		n, err := parseInt(w, "window in seconds")
		switch most := int(sealed.MaxWindow / time.Second); {
		case err != nil:
			errs.add("window", "%v", err)
		case n < 0 || n > most:
			errs.add("window", "%d s is outside 0 to %d s (8 hours): 16 bits of time cannot tell more", n, most)
		default:
			s.window = time.Duration(n) * time.Second
		}
	}
	s.user, s.server = strings.TrimSpace(f.User), strings.TrimSpace(f.Server)
	switch {
	case s.user != "":
		if _, err := sealed.NewSender(s.user, nameKey, ""); err != nil {
			errs.add("user", "%v", err)
		}
		if _, err := sealed.NewSender(s.user, nameKey, s.server); err != nil && errs["user"] == "" {
			errs.add("server", "%v", err)
		}
		if s.window > sealed.MaxWindowV2 {
			errs.add("window", "%d s is wider than %d s, the most a daemon with users allows: its hint tables cover no more",
				s.window/time.Second, sealed.MaxWindowV2/time.Second)
		}
	case s.server != "":
		s.notes = append(s.notes, "no user: the knock is version 1, which names no server, so the server is not used (give a user for version 2)")
	}
	if src := strings.TrimSpace(f.Source); src != "" {
		a, err := netip.ParseAddr(src)
		if err != nil || a.Zone() != "" {
			errs.add("source", "%q is not an IP address: write the address the knock came from, such as 198.51.100.9", f.Source)
		}
		s.source = a.Unmap()
	}
	return s
}

func (sealedMode) encode(ctx context.Context, l *Lab, f Form) (*Result, Errors) {
	errs := Errors{}
	spa, err := parseSwitch(f.SPA)
	if err != nil {
		errs.add("spa", "%v", err)
	}
	s := readSealedSetup(f, spa, errs)
	m := l.readMessage(f, errs, &s.notes)
	kc := readKey(f, errs, &s.notes)
	if len(errs) > 0 {
		return nil, errs
	}
	key, err := kc.get(ctx, l)
	if err != nil {
		return nil, kc.errors(err)
	}
	b, errs := s.seal(key, m)
	if errs != nil {
		return nil, errs
	}
	m.User = s.user // not sent: shown, as a daemon that opens it names the user
	s.notes = append(s.notes, freshness(m.Time, l.now(), s.window, s.user != "")...)
	r := sealedResult("encode", s, b, &m)
	r.OK = true
	return r, nil
}

// seal seals m: version 2 for the user and server when a user is given,
// else version 1.
func (s sealedSetup) seal(key *sealed.Key, m sealed.Message) ([]byte, Errors) {
	if s.user == "" {
		b, err := sealed.SealNonce(key, m)
		if err != nil {
			return nil, Errors{"form": err.Error()}
		}
		return b, nil
	}
	snd, err := sealed.NewSender(s.user, key, s.server)
	if err != nil {
		return nil, Errors{"user": err.Error()}
	}
	b, err := snd.SealNonce(m)
	if err != nil {
		return nil, Errors{"form": err.Error()}
	}
	return b, nil
}

// freshness notes how a daemon would take a knock sealed at t, read now;
// v2 for a version 2 knock, whose time a daemon reads within its hint
// tables, not from 16 bits.
func freshness(t, now time.Time, window time.Duration, v2 bool) []string {
	skew := t.Unix() - now.Unix()
	switch w := int64(window / time.Second); {
	case !v2 && (skew < -1<<15 || skew >= 1<<15):
		return []string{fmt.Sprintf("sealed %s the lab's clock: beyond 9 h 6 min a receiver reads its 16 bits of time as another second, and the tag fails", ago(skew))}
	case skew < -w || skew > w:
		return []string{fmt.Sprintf("sealed %s the lab's clock: a daemon with a ±%ds window refuses it; decrypt it to see", ago(skew), w)}
	}
	return nil
}

// ago writes a clock difference in seconds: "61 s before", "3 s after".
func ago(skew int64) string {
	if skew < 0 {
		return fmt.Sprintf("%d s before", -skew)
	}
	return fmt.Sprintf("%d s after", skew)
}

func (sealedMode) decode(ctx context.Context, l *Lab, f Form) (*Result, Errors) {
	errs := Errors{}
	spa, note, err := isDatagram(f)
	if err != nil {
		errs.add("spa", "%v", err)
	}
	s := readSealedSetup(f, spa, errs)
	if note != "" {
		s.notes = append(s.notes, note)
	}
	kc := readKey(f, errs, &s.notes)
	if len(errs) > 0 {
		return nil, errs
	}
	b, errs := s.unwrap(f.Sequence)
	if errs != nil {
		return nil, errs
	}
	if b[0]&3 == sealed.AddrImplicit && !s.source.IsValid() {
		return sealedResult("decode", s, b, nil), Errors{"source": "required: this knock's address is implicit (not sent), and its tag covers the address the packets came from: give that source address"}
	}
	if b[0]>>4 == sealed.Version2 && s.user == "" {
		return sealedResult("decode", s, b, nil), Errors{"user": "required: this is a version 2 knock, which a user's key seals for a server: give the user's name, and the server's if the knock names one"}
	}
	key, err := kc.get(ctx, l)
	if err != nil {
		return nil, kc.errors(err)
	}
	if b[0]>>4 == sealed.Version2 {
		return s.openV2(l.now(), key, b)
	}
	return s.open(l.now(), key, kc.field, b)
}

// isDatagram says whether the sequence is an SPA datagram: the box is
// ticked, or it is written in hex, which no list of ports is.
func isDatagram(f Form) (bool, string, error) {
	on, err := parseSwitch(f.SPA)
	if on || err != nil || !inHex(f.Sequence) {
		return on, "", err
	}
	return true, "read as an SPA datagram, since it is written in hex", nil
}

// inHex reports whether a sequence is written in hex: with a digit a-f,
// a 0x, or as one run of digits longer than a port.
func inHex(seq string) bool {
	t := strings.TrimSpace(seq)
	return strings.ContainsAny(t, "abcdefABCDEF") || strings.HasPrefix(t, "0x") ||
		len(t) > 5 && !strings.ContainsAny(t, " ,;\t\r\n")
}

// unwrap reads the message out of the sequence: ports on the span, or
// the datagram's bytes.
func (s sealedSetup) unwrap(seq string) ([]byte, Errors) {
	if s.spa {
		if _, err := parseSequence(seq); err == nil && !inHex(seq) {
			return nil, Errors{"spa": "ticked, but the sequence is ports, not a datagram in hex: untick it to read a knock over the span"}
		}
		d, err := parseHex(seq)
		if err != nil {
			return nil, Errors{"sequence": err.Error()}
		}
		b, err := sealed.ParseSPA(d)
		if err != nil {
			if h, ok := bytes.CutPrefix(d, []byte(sealed.SPAMagic)); ok && len(h) > 0 && headerFault(h[0]) != "" {
				return nil, Errors{"sequence": "malformed: " + headerFault(h[0])}
			}
			return nil, Errors{"sequence": malformed(err)}
		}
		return b, nil
	}
	ports, err := parseSequence(seq)
	if err != nil {
		return nil, Errors{"sequence": err.Error()}
	}
	b, err := sealed.Decode(s.span, ports)
	switch {
	case err != nil && !lengthFits(s.span, len(ports)):
		v1, v2 := portsOf(s.span, sealed.Version), portsOf(s.span, sealed.Version2)
		return nil, Errors{"sequence": fmt.Sprintf("malformed: wrong knock length, %d ports; a sealed knock on this span has %d (implicit address), %d (IPv4) or %d (IPv6) in version 1, and %d, %d or %d in version 2",
			len(ports), v1[0], v1[1], v1[2], v2[0], v2[1], v2[2])}
	case err != nil:
		return nil, Errors{"sequence": malformed(err)}
	}
	return b, nil
}

func lengthFits(span *portspan.Span, n int) bool {
	for _, m := range sealed.Lengths(span) {
		if m == n {
			return true
		}
	}
	return false
}

// portsOf gives the number of ports a message of version v takes on
// span, by address type: implicit, IPv4, IPv6.
func portsOf(span *portspan.Span, v byte) [3]int {
	var n [3]int
	for typ := range n {
		n[typ] = span.Ports(sealed.SizeOf(v<<4 | byte(typ)))
	}
	return n
}

// headerFault says what is wrong with a message's first byte, or "".
func headerFault(h byte) string {
	switch v := h >> 4; {
	case v != sealed.Version && v != sealed.Version2:
		return fmt.Sprintf("header %#02x is of version %d: the lab reads versions %d and %d (the high nibble)", h, v, sealed.Version, sealed.Version2)
	case h&0x0c != 0 && v == sealed.Version:
		return fmt.Sprintf("header %#02x sets reserved bits (0x0c)", h)
	case h&0x0c != 0:
		return fmt.Sprintf("header %#02x sets flag bits (0x0c) that version 2 does not define", h)
	case h&3 > sealed.AddrIPv6:
		return fmt.Sprintf("header %#02x names address type 3, which is reserved", h)
	}
	return ""
}

// malformed words an ErrMalformed for people.
func malformed(err error) string {
	return "malformed: " + strings.TrimPrefix(err.Error(), sealed.ErrMalformed.Error()+": ")
}

// parseHex reads a datagram in hex: "4b4e4b01...", with spaces or colons
// between bytes if wished, and an optional 0x.
func parseHex(s string) ([]byte, error) {
	t := strings.Map(func(r rune) rune {
		if r == ':' || isSeparator(r) {
			return -1
		}
		return r
	}, s)
	t = strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
	b, err := hex.DecodeString(t)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s is not a datagram in hex: write two hex digits a byte, such as %x…", quoteShort(s), sealed.SPAMagic)
	}
	return b, nil
}

// quoteShort quotes what was typed, cut to a length an error can show.
func quoteShort(s string) string {
	const most = 40
	if r := []rune(strings.TrimSpace(s)); len(r) > most {
		return fmt.Sprintf("%q…", string(r[:most]))
	}
	return fmt.Sprintf("%q", strings.TrimSpace(s))
}

// open checks the message as the daemon would, but with the widest window
// first, so that an authentic knock outside the window still shows what
// it says beside the error.
func (s sealedSetup) open(now time.Time, key *sealed.Key, keyField string, b []byte) (*Result, Errors) {
	m, err := sealed.OpenFrom(key, b, s.source, now, sealed.MaxWindow)
	if r := sealed.Reason(err); r == "expired" || r == "future" {
		// Between 8 h and 9 h 6 min away: read it from a clock nearer.
		shift := sealed.MaxWindow
		if r == "expired" {
			shift = -shift
		}
		m, err = sealed.OpenFrom(key, b, s.source, now.Add(shift), sealed.MaxWindow)
	}
	switch sealed.Reason(err) {
	case "":
	case "auth":
		return sealedResult("decode", s, b, nil), Errors{keyField: s.authText(b)}
	default:
		return sealedResult("decode", s, b, nil), Errors{"sequence": malformed(err) + " (the tag matches, so a key holder sealed it, but no client of this version would)"}
	}
	if s.user != "" {
		// As a keyring of this one user opens version 1: as the user's.
		m.User = s.user
		s.notes = append(s.notes, fmt.Sprintf("a version 1 knock names no user nor server: a daemon whose only user is %q opens it as that user's (the user and server fields are emptied, to make this knock again)", s.user))
	}
	return s.opened(now, b, m)
}

// openV2 opens a version 2 message as a daemon whose keyring holds this
// one user and key, for this server, would; with the widest window a
// keyring has, so that an authentic knock outside the lab's window still
// shows what it says.
func (s sealedSetup) openV2(now time.Time, key *sealed.Key, b []byte) (*Result, Errors) {
	ring, err := sealed.NewKeyring(sealed.KeyringConfig{Server: s.server, Window: sealed.MaxWindowV2,
		Users: []sealed.User{{Name: s.user, Keys: []*sealed.Key{key}}}}, now)
	if err != nil {
		return nil, Errors{"user": err.Error()}
	}
	m, err := ring.Open(b, s.source, now)
	switch r := sealed.Reason(err); r {
	case "":
	case "auth":
		return sealedResult("decode", s, b, nil), Errors{"user": s.authTextV2(b)}
	case "expired", "future":
		return sealedResult("decode", s, b, nil), Errors{"window": fmt.Sprintf("%s: sealed over %d s from the lab's clock (%s), beyond the widest window a daemon with users has",
			map[string]string{"expired": "expired", "future": "from the future"}[r], sealed.MaxWindowV2/time.Second, now.UTC().Format(time.RFC3339))}
	default:
		return sealedResult("decode", s, b, nil), Errors{"sequence": malformed(err) + " (the tag matches, so the user's key sealed it, but no client of this version would)"}
	}
	return s.opened(now, b, m)
}

// opened lays out an authentic message m, and checks it against the
// lab's window and source address.
func (s sealedSetup) opened(now time.Time, b []byte, m sealed.Message) (*Result, Errors) {
	r := sealedResult("decode", s, b, &m)
	r.Fields = sealedFields(m, s, b[0]>>4 == sealed.Version2, r.Sequence)
	skew := m.Time.Unix() - now.Unix()
	if w := int64(s.window / time.Second); skew < -w || skew > w {
		what := "expired"
		if skew > 0 {
			what = "from the future"
		}
		return r, Errors{"window": fmt.Sprintf("%s: sealed at %s, %s the lab's clock (%s); the window is ±%ds",
			what, m.Time.Format(time.RFC3339), ago(skew), now.UTC().Format(time.RFC3339), s.window/time.Second)}
	}
	r.OK = true
	if s.source.IsValid() && !m.Implicit && s.source != m.Client {
		r.Notes = append(r.Notes, fmt.Sprintf("the knock carries %s, not the source address %s: a daemon that checks the client refuses it", m.Client, s.source))
	}
	return r, nil
}

// authText explains a tag that does not match.
func (s sealedSetup) authText(b []byte) string {
	text := "authentication failed: wrong key, or the knock was altered"
	if b[0]&3 == sealed.AddrImplicit {
		text += fmt.Sprintf(", or it came from another address than the source %s", s.source)
	}
	return text + " (or it was sealed over 9 hours from the lab's clock, which 16 bits of time cannot reach)"
}

// authTextV2 explains a version 2 message that the user's key does not
// open: the name, the server and the key all enter the tag.
func (s sealedSetup) authTextV2(b []byte) string {
	text := fmt.Sprintf("authentication failed: no key of this user and server opens it: check the user %q, %s and the key, or the knock was altered", s.user, serverText(s.server))
	if b[0]&3 == sealed.AddrImplicit {
		text += fmt.Sprintf(", or it came from another address than the source %s", s.source)
	}
	return text + fmt.Sprintf(" (or it was sealed over %d s from the lab's clock, beyond the hint tables of a daemon with users)", (sealed.MaxWindowV2+sealed.HintPeriod)/time.Second)
}

// serverText names a server name for people: the empty one is the
// default.
func serverText(server string) string {
	if server == "" {
		return "the default (empty) server name"
	}
	return fmt.Sprintf("the server %q", server)
}
