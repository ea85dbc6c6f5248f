package engine

import (
	"context"
	"net/netip"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/source"
)

// The engine's edges, declared here by their user. Each has a fake: the
// protocols' own packages in tests, firewall/firewalltest, and
// replay.Memory for Claims.

// Protocol is one kind of knock the engine understands. Every protocol
// is also a SpanProtocol, a DatagramProtocol, or both, or a
// StatefulProtocol; the engine sorts them once per configuration, never
// per packet.
type Protocol interface {
	Name() knock.Protocol
}

// SpanProtocol reads knocks sent as a sequence of packets to the ports of
// a span: the legacy knock, the sealed knock.
type SpanProtocol interface {
	Protocol
	// KnockSpan is the span its knocks go to.
	KnockSpan() *portspan.Span
	// Lengths lists every number of ports a knock can have, ascending.
	Lengths() []int
	// Skip is how many foreign knocks may be skipped inside a candidate:
	// 0 when a garbage candidate decodes now and then (legacy), up to 2
	// when a forged candidate never passes (sealed). Candidates that skip
	// are paid from the source's budget (search.go).
	Skip() int
	// Plausible is a cheap first look at a candidate of n ports, given its
	// first ports (up to 8), without allocating: false when they cannot
	// start a knock, so that the many candidates a flood makes cost little.
	Plausible(prefix []uint16, n int) bool
	// Decode checks a candidate; its errors carry a knock.Reason.
	Decode(ports []uint16, src netip.Addr, now time.Time) (knock.Request, error)
}

// firstLook is implemented by span protocols whose Plausible reads fewer
// than 8 ports: the engine then looks once per window instead of once per
// way of skipping foreign knocks inside it.
type firstLook interface {
	PlausiblePorts() int
}

// DatagramProtocol reads knocks carried whole in one UDP datagram
// (single-packet authorization).
type DatagramProtocol interface {
	Protocol
	// DatagramPort is the UDP port its datagrams go to; 0 for none.
	// Several protocols may share a port: each is tried in turn.
	DatagramPort() uint16
	// DecodeDatagram checks one payload sent from src to dst (dst may be
	// invalid when the source does not know it); its errors carry a
	// knock.Reason.
	DecodeDatagram(payload []byte, src, dst netip.Addr, now time.Time) (knock.Request, error)
}

// StatefulProtocol follows knocks that are a state machine per source
// rather than a sequence to decode: knockd's doors, where each packet
// moves its source's attempts on and a door opens at the last step. The
// engine cannot cut candidates from a queue for it (a step may be
// ignored for its TCP flags, a wrong step ends an attempt, the first
// packet after one must not start another), so it hands over every hit
// to the protocol's ports, and takes back the doors that opened. Two
// methods and a port list: the state, its bounds and its clock (the
// packets' time) stay in the protocol.
type StatefulProtocol interface {
	Protocol
	// Ports are the ports its knocks go to. TCP ones are watched with
	// any flags: the protocol matches on them itself.
	Ports() []knock.Port
	// Observe takes one hit to one of Ports, in capture order, from the
	// engine's goroutine, and returns the doors it opened.
	Observe(h source.Hit) []Opening
}

// Opening is a door a StatefulProtocol opened.
type Opening struct {
	// Request asks for access through the firewall: its Ports, which the
	// policy checks as any knock's. None: nothing to grant. A static
	// sequence has no replay id (ReplayID zero): nothing is claimed.
	Request knock.Request
	// Run, when set, does what the door does besides (knockd's start
	// and stop commands). The actor calls it after the grants, off the
	// packet path; never in a dry run. It must not block for long.
	Run func()
}

// Claims is the replay cache: one atomic step records a knock's id until
// a time and says whether it was new. An error means the claim could not
// be recorded, and the knock is refused (failing closed). The engine
// claims off its packet path, in the order of its decisions, from one
// goroutine.
type Claims interface {
	Claim(ctx context.Context, id knock.ReplayID, until time.Time) (fresh bool, err error)
}

// Firewall is where the engine's grants go.
type Firewall interface {
	// Open grants access; opening an open grant extends it.
	Open(ctx context.Context, g firewall.Grant) error
	// Close ends access before its time; closing a closed grant is no error.
	Close(ctx context.Context, g firewall.Grant) error
}

// Policy admits or refuses a decoded request on behalf of its user: who
// may open what, from where, until when (package users). It may narrow
// the request (its ports, its Limit). nil admits everything.
type Policy interface {
	Admit(req knock.Request, src netip.Addr, now time.Time) (knock.Request, error)
}

// Ticker is a protocol with work to do once a second, off the packet
// path (Tick runs in a goroutine of its own and must be safe for
// concurrent use): the sealed keyring builds its next table of hints.
type Ticker interface {
	Tick(now time.Time)
}

// KeyJudge is a span protocol without authentication (the legacy knock)
// that can tell when a failed decryption or checksum means a wrong key,
// worth a line to the operator, rather than a knock still arriving.
type KeyJudge interface {
	JudgesKeys() bool
}
