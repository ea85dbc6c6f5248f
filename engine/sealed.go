package engine

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

// Sealed decodes the authenticated knock (package sealed), over the span
// and as single-packet authorization.
type Sealed struct {
	Key    *sealed.Key
	Span   *portspan.Span
	Window time.Duration // clock skew allowed (default sealed.DefaultWindow)
	// SPA is the UDP port of single-packet authorization; 0 turns it off.
	SPA uint16
}

// Lengths implements Decoder.
func (d *Sealed) Lengths() []int { return sealed.Lengths(d.Span) }

// InSpan implements Decoder.
func (d *Sealed) InSpan(p uint16) bool { return d.Span.Contains(p) }

// Skip implements Decoder: a forged candidate cannot pass the tag, so the
// engine may look past up to two foreign knocks injected into a sequence.
func (d *Sealed) Skip() int { return 2 }

// Plausible implements Decoder: the first byte of a sealed message is its
// header (version and address type), which announces the message's size;
// a candidate whose first ports do not spell a header announcing its own
// length is refused after a lookup or two. Random candidates pass it about
// once in 256.
func (d *Sealed) Plausible(prefix []uint16, n int) bool {
	var acc uint32
	have := 0
	bits := d.Span.Bits()
	for _, p := range prefix {
		v, ok := d.Span.Index(p)
		if !ok {
			return false
		}
		acc = acc<<bits | uint32(v)
		have += bits
		if have >= 8 {
			return d.Span.Ports(sealed.SizeOf(byte(acc>>(have-8)))) == n
		}
	}
	return false
}

// Decode implements Decoder.
func (d *Sealed) Decode(ports []uint16, src netip.Addr, now time.Time) (Request, error) {
	b, err := sealed.Decode(d.Span, ports)
	if err != nil {
		return Request{}, reject(ReasonMalformed, err)
	}
	return d.open(b, src, now)
}

// SPAPort implements SPADecoder.
func (d *Sealed) SPAPort() uint16 { return d.SPA }

// DecodeSPA implements SPADecoder.
func (d *Sealed) DecodeSPA(payload []byte, src netip.Addr, now time.Time) (Request, error) {
	b, err := sealed.ParseSPA(payload)
	if err != nil {
		return Request{}, reject(ReasonMalformed, err)
	}
	return d.open(b, src, now)
}

func (d *Sealed) open(b []byte, src netip.Addr, now time.Time) (Request, error) {
	w := d.Window
	if w == 0 {
		w = sealed.DefaultWindow
	}
	m, err := sealed.OpenFrom(d.Key, b, src, now, w)
	if err != nil {
		switch sealed.Reason(err) {
		case "auth":
			return Request{}, reject(ReasonAuth, err)
		case "expired", "future":
			return Request{}, reject(ReasonStale, err)
		}
		return Request{}, reject(ReasonMalformed, err)
	}
	req := Request{
		Client: m.Client, ClientInKnock: !m.Implicit, Port: m.Port, Proto: m.Proto,
		Duration: m.Duration, Close: m.Close, ReplayUntil: m.Expires(w),
		Fields: map[string]string{
			"client": m.Client.String(), "port": strconv.Itoa(int(m.Port)), "proto": m.Proto,
			"duration": m.Duration.String(), "close": strconv.FormatBool(m.Close),
			"time": m.Time.Format(time.RFC3339), "nonce": strconv.Itoa(int(m.Nonce)),
		},
	}
	id := m.ReplayID()
	copy(req.ReplayID[:], "sealed")
	copy(req.ReplayID[16:], id[:])
	return req, nil
}

// SPADecoder is a Decoder that also reads single-packet authorization
// datagrams.
type SPADecoder interface {
	Decoder
	SPAPort() uint16
	DecodeSPA(payload []byte, src netip.Addr, now time.Time) (Request, error)
}

var _ SPADecoder = (*Sealed)(nil)
