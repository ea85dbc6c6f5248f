package packet

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/source"
)

// Filter is what both network sources do with each packet they read: parse
// it, keep it if it reaches a port of the span, and count what happened to
// it, for the operator's metrics.
//
// Every packet read is counted once as malformed (a parse error other than
// ErrNotKnock), not a knock (another protocol, a TCP segment other than a
// SYN, a later fragment, a port outside the span) or a hit. Its methods are
// safe for concurrent use.
type Filter struct {
	ports    Ports
	anyFlags Ports // TCP ports kept whatever their flags: knockd's doors
	now      func() time.Time

	seen, malformed, notKnock, hits atomic.Uint64
	overruns, readErrors            atomic.Uint64
}

// NewFilter returns a filter for the ports given, stamping hits with now.
func NewFilter(ports Ports, now func() time.Time) *Filter {
	if now == nil {
		now = time.Now
	}
	return &Filter{ports: ports, now: now}
}

// NewDoorFilter is NewFilter that also keeps TCP segments with any flags
// (not only SYNs) to the anyFlags ports: knockd's doors match on flags of
// their own (TCPFlags = ack, ...). A SYN to those ports is kept too.
func NewDoorFilter(ports, anyFlags Ports, now func() time.Time) *Filter {
	f := NewFilter(ports, now)
	f.anyFlags = anyFlags
	return f
}

// Ports returns the filter's ports.
func (f *Filter) Ports() Ports { return f.ports }

// AnyFlags returns the TCP ports kept whatever their flags.
func (f *Filter) AnyFlags() Ports { return f.anyFlags }

// wanted says whether a parsed packet is a hit: a SYN or a datagram to a
// watched port, or any TCP segment to a door's port.
func (f *Filter) wanted(v *view) bool {
	if v.proto == knock.TCP && f.anyFlags.Contains(v.port) {
		return true
	}
	return v.syn() && f.ports.Contains(v.port)
}

// IP filters an IP packet, as ParseIP reads it. It reports false, after
// counting why, when the packet is no knock on the span.
func (f *Filter) IP(b []byte) (source.Hit, bool) {
	var v view
	return f.keep(parseIP(b, &v), &v)
}

// Frame filters an Ethernet frame, as ParseFrame reads it.
func (f *Filter) Frame(b []byte) (source.Hit, bool) {
	var v view
	return f.keep(parseFrame(b, &v), &v)
}

func (f *Filter) keep(err error, v *view) (source.Hit, bool) {
	f.seen.Add(1)
	switch {
	case errors.Is(err, ErrNotKnock):
		f.notKnock.Add(1)
		return source.Hit{}, false
	case err != nil:
		f.malformed.Add(1)
		return source.Hit{}, false
	case !f.wanted(v):
		f.notKnock.Add(1)
		return source.Hit{}, false
	}
	f.hits.Add(1)
	h := v.hit()
	h.Time = f.now()
	return h, true
}

// CountOverruns records n packets the kernel dropped because the source
// did not read fast enough.
func (f *Filter) CountOverruns(n uint64) { f.overruns.Add(n) }

// CountReadError records a socket error the source survived.
func (f *Filter) CountReadError() { f.readErrors.Add(1) }

// Counters returns the counts by name: packets_seen is packets_parsed plus
// packets_malformed; packets_parsed is hits plus packets_not_knock.
func (f *Filter) Counters() map[string]uint64 {
	malformed := f.malformed.Load() // before seen, which counts it first
	seen := f.seen.Load()
	return map[string]uint64{
		"packets_seen":      seen,
		"packets_parsed":    seen - malformed,
		"packets_malformed": malformed,
		"packets_not_knock": f.notKnock.Load(),
		"hits":              f.hits.Load(),
		"overruns":          f.overruns.Load(),
		"read_errors":       f.readErrors.Load(),
	}
}
