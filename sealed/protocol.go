package sealed

import (
	"net/netip"
	"strconv"
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

// Ports implements engine.SpanProtocol.
func (d *Protocol) KnockSpan() *portspan.Span { return d.Span }

// Lengths implements engine.SpanProtocol.
func (d *Protocol) Lengths() []int { return Lengths(d.Span) }

// Skip implements engine.SpanProtocol: a forged candidate cannot pass the
// tag, so the engine may look past up to two foreign knocks injected into
// a sequence.
func (d *Protocol) Skip() int { return 2 }

// Plausible implements engine.SpanProtocol: the first byte of a sealed
// message is its header (version and address type), which announces the
// message's size; a candidate whose first ports do not spell a header
// announcing its own length is refused after a lookup or two. Random
// candidates pass it about once in 256.
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
			return d.Span.Ports(SizeOf(byte(acc>>(have-8)))) == n
		}
	}
	return false
}

// Decode implements engine.SpanProtocol.
func (d *Protocol) Decode(ports []uint16, src netip.Addr, now time.Time) (knock.Request, error) {
	b, err := Decode(d.Span, ports)
	if err != nil {
		return knock.Request{}, knock.Refuse(knock.ReasonMalformed, err)
	}
	return d.open(b, src, now)
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
