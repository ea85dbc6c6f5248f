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
	notes  []string
}

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
	b, err := sealed.SealNonce(key, m)
	if err != nil {
		return nil, Errors{"form": err.Error()}
	}
	s.notes = append(s.notes, freshness(m.Time, l.now(), s.window)...)
	r := sealedResult("encode", s, b, &m)
	r.OK = true
	return r, nil
}

// freshness notes how a daemon would take a knock sealed at t, read now.
func freshness(t, now time.Time, window time.Duration) []string {
	skew := t.Unix() - now.Unix()
	switch w := int64(window / time.Second); {
	case skew < -1<<15 || skew >= 1<<15:
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
	key, err := kc.get(ctx, l)
	if err != nil {
		return nil, kc.errors(err)
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
		n := sealed.Lengths(s.span)
		return nil, Errors{"sequence": fmt.Sprintf("malformed: wrong knock length, %d ports; a sealed knock on this span has %d (implicit address), %d (IPv4) or %d (IPv6)", len(ports), n[0], n[1], n[2])}
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

// headerFault says what is wrong with a message's first byte, or "".
func headerFault(h byte) string {
	switch {
	case h>>4 != sealed.Version:
		return fmt.Sprintf("header %#02x is of version %d: this is version %d (the high nibble)", h, h>>4, sealed.Version)
	case h&0x0c != 0:
		return fmt.Sprintf("header %#02x sets reserved bits (0x0c)", h)
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
	r := sealedResult("decode", s, b, &m)
	r.Fields = sealedFields(m, s.spa, r.Sequence)
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
