package sealed

import (
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/portspan"
)

// Protocol is the sealed knock as the daemon's engine reads it: over a
// port span, and as single-packet authorization datagrams.
type Protocol struct {
	// Keyring opens the knocks of the daemon's users, version 2 and (for
	// one user) version 1. When nil, Key opens version 1 knocks alone.
	Keyring *Keyring
	Key     *Key
	Span    *portspan.Span
	Window  time.Duration // clock skew allowed (default DefaultWindow)
	// SPA is the UDP port of single-packet authorization; 0 turns it off.
	SPA uint16
}

// Name implements engine.Protocol.
func (d *Protocol) Name() knock.Protocol { return knock.Sealed }

// KnockSpan implements engine.SpanProtocol.
func (d *Protocol) KnockSpan() *portspan.Span { return d.Span }

// Lengths implements engine.SpanProtocol.
func (d *Protocol) Lengths() []int { return Lengths(d.Span) }

// Skip implements engine.SpanProtocol: a forged candidate cannot pass the
// tag, so the engine may look past up to two foreign knocks injected into
// a sequence.
func (d *Protocol) Skip() int { return 2 }

// Plausible implements engine.SpanProtocol: the first byte of a sealed
// message is its header (version and address type), which announces the
// message's size; a candidate whose first ports do not spell a header of
// a version this protocol opens (1; and 2 with a Keyring), announcing its
// own length, is refused after a lookup or two. Random candidates pass it
// about once in 256 (twice that with a Keyring).
func (d *Protocol) Plausible(prefix []uint16, n int) bool {
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
			h := byte(acc >> (have - 8))
			v := h >> 4
			return (v == Version || v == Version2 && d.Keyring != nil) && d.Span.Ports(SizeOf(h)) == n
		}
	}
	return false
}

// PlausiblePorts tells the engine how many leading ports Plausible reads:
// those that carry the header byte. The engine then looks once per window
// instead of once per way of skipping foreign knocks inside it.
func (d *Protocol) PlausiblePorts() int { return (8 + d.Span.Bits() - 1) / d.Span.Bits() }

// Refusals of garbage, made once: a flood of candidates that pass the
// first look then costs no allocation.
var (
	refusedAuth      = knock.Refuse(knock.ReasonAuth, ErrAuth)
	refusedLastGroup = knock.Refuse(knock.ReasonMalformed, fmt.Errorf("%w: %w", ErrMalformed, portspan.ErrLastSymbol))
)

var messages = sync.Pool{New: func() any { return new([SizeV2IPv6]byte) }}

// Decode implements engine.SpanProtocol. Candidates that pass Plausible
// are unpacked into a pooled buffer, and a wrong tag is refused with a
// shared error, so garbage costs two HMACs and no allocation.
func (d *Protocol) Decode(ports []uint16, src netip.Addr, now time.Time) (knock.Request, error) {
	buf := messages.Get().(*[SizeV2IPv6]byte)
	defer messages.Put(buf)
	b, ok, last := unpack(buf, d.Span, ports)
	switch {
	case last:
		return knock.Request{}, refusedLastGroup
	case !ok:
		// Ports outside the span or a length no header announces: the
		// engine's first look keeps these out; knockdaemon -decode gets
		// the detailed error.
		b, err := Decode(d.Span, ports)
		if err != nil {
			return knock.Request{}, knock.Refuse(knock.ReasonMalformed, err)
		}
		return d.open(b, src, now)
	}
	return d.open(b, src, now)
}

// unpack is Decode into buf for the common case: every port in span, and
// a header announcing the size the ports carry. last reports a final port
// carrying more bits than fit (for every size of that many ports).
func unpack(buf *[SizeV2IPv6]byte, span *portspan.Span, ports []uint16) (b []byte, ok, last bool) {
	overflow := false
sizes:
	for _, n := range allSizes {
		if span.Ports(n) != len(ports) {
			continue
		}
		b = buf[:0]
		var acc uint32
		have := 0
		bits := span.Bits()
		for i, p := range ports {
			v, in := span.Index(p)
			if !in {
				return nil, false, false
			}
			width := bits
			if i == len(ports)-1 {
				width = 8*n - bits*(len(ports)-1)
				if uint32(v)>>width != 0 {
					overflow = true
					continue sizes
				}
			}
			acc = acc<<width | uint32(v)
			have += width
			for have >= 8 {
				have -= 8
				b = append(b, byte(acc>>have))
			}
			acc &= 1<<have - 1
		}
		if SizeOf(b[0]) == n {
			return b, true, false
		}
	}
	return nil, false, overflow
}

// DatagramPort implements engine.DatagramProtocol.
func (d *Protocol) DatagramPort() uint16 { return d.SPA }

// DecodeDatagram implements engine.DatagramProtocol.
func (d *Protocol) DecodeDatagram(payload []byte, src, _ netip.Addr, now time.Time) (knock.Request, error) {
	b, err := ParseSPA(payload)
	if err != nil {
		return knock.Request{}, knock.Refuse(knock.ReasonMalformed, err)
	}
	return d.open(b, src, now)
}

func (d *Protocol) open(b []byte, src netip.Addr, now time.Time) (knock.Request, error) {
	w := d.Window
	if w == 0 {
		w = DefaultWindow
	}
	var (
		m   Message
		err error
	)
	if d.Keyring != nil {
		w = d.Keyring.Window()
		m, err = d.Keyring.Open(b, src, now)
	} else {
		m, err = OpenFrom(d.Key, b, src, now, w)
	}
	if err == ErrAuth { // a wrong tag, as OpenFrom returns it: no detail to keep
		return knock.Request{}, refusedAuth
	}
	if err != nil {
		return knock.Request{}, knock.Refuse(ReasonOf(err), err)
	}
	req := knock.Request{
		Protocol: knock.Sealed, User: m.User,
		Client: m.Client, ClientInKnock: !m.Implicit, Port: m.Port, Proto: knock.Proto(m.Proto),
		Duration: m.Duration, Close: m.Close, ReplayUntil: m.Expires(w), Stamp: m.Time,
		Fields: map[string]string{
			"client": m.Client.String(), "port": strconv.Itoa(int(m.Port)), "proto": m.Proto,
			"duration": m.Duration.String(), "close": strconv.FormatBool(m.Close),
			"time": m.Time.Format(time.RFC3339), "nonce": strconv.Itoa(int(m.Nonce)),
		},
	}
	if m.User != "" {
		req.Fields["user"] = m.User
	}
	id := m.ReplayID()
	copy(req.ReplayID[:], "sealed")
	copy(req.ReplayID[16:], id[:])
	return req, nil
}

// ReasonOf maps an error of Open to the shared vocabulary: a bad tag is
// knock.ReasonAuth, a time outside the window knock.ReasonStale, anything
// else knock.ReasonMalformed.
func ReasonOf(err error) knock.Reason {
	switch Reason(err) {
	case "auth":
		return knock.ReasonAuth
	case "expired", "future":
		return knock.ReasonStale
	}
	return knock.ReasonMalformed
}

// Tick implements engine.Ticker: the keyring builds the hint tables of
// the coming time buckets ahead of the packets that need them.
func (d *Protocol) Tick(now time.Time) {
	if d.Keyring != nil {
		d.Keyring.Advance(now)
	}
}
