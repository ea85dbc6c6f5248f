package engine

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/portknock/knock/replay"
)

// Reasons a candidate knock is refused, in the order the checks run. They
// name the log's reason= field and the rejection counter's label.
const (
	ReasonLength    = "length"    // no knock has that many ports
	ReasonMalformed = "malformed" // sealed: not a sealed message of this version
	ReasonSpan      = "span"      // a port outside the span
	ReasonDecrypt   = "decrypt"   // legacy: bad padding after decryption
	ReasonChecksum  = "checksum"  // legacy: the checksum does not hold
	ReasonAuth      = "auth"      // sealed: the tag does not verify
	ReasonStale     = "stale"     // the knock's time is outside the window
	ReasonClient    = "client"    // CLIENT is not the packet's source
	ReasonPort      = "port"      // the port is not a protected port
	ReasonReplay    = "replay"    // this knock was accepted before
	ReasonFirewall  = "firewall"  // the backend failed to act
)

// stage orders the reasons: a candidate that fails later got further.
var stage = map[string]int{
	ReasonLength: 0, ReasonMalformed: 1, ReasonSpan: 1, ReasonDecrypt: 2, ReasonAuth: 2, ReasonChecksum: 3,
	ReasonStale: 4, ReasonClient: 5, ReasonPort: 6, ReasonReplay: 7, ReasonFirewall: 8,
}

// Reject is a refused candidate: the check that failed and why.
type Reject struct {
	Reason string
	Err    error
}

func (r *Reject) Error() string { return fmt.Sprintf("%s: %v", r.Reason, r.Err) }
func (r *Reject) Unwrap() error { return r.Err }

// reject builds a *Reject.
func reject(reason string, err error) error { return &Reject{Reason: reason, Err: err} }

// ReasonOf returns the reason of a decoder error, or "" for other errors.
func ReasonOf(err error) string {
	if r, ok := err.(*Reject); ok {
		return r.Reason
	}
	var r *Reject
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// Request is what a valid knock asks for.
type Request struct {
	Client   netip.Addr    // who gets access: from the knock, or the packet's source
	Port     uint16        // the port to open or close
	Proto    string        // "tcp", "udp", or "" for every protocol the port is protected for
	Duration time.Duration // 0: the configured default
	Close    bool          // a closing knock
	// ClientInKnock is set when Client came from the knock itself (and
	// may be checked against the packet's source), not from the packet.
	ClientInKnock bool
	ReplayID      replay.ID // identifies this knock for the replay cache
	ReplayUntil   time.Time // until when a replay must be refused
	Fields        map[string]string
}

// Decoder turns a candidate port sequence into a request. The legacy knock
// and the sealed knock each have one.
type Decoder interface {
	// Lengths lists every number of ports a knock can have, ascending.
	Lengths() []int
	// InSpan reports whether port belongs to the knock span.
	InSpan(port uint16) bool
	// Skip is how many foreign knocks may be skipped inside a candidate:
	// 0 for the legacy knock (a garbage candidate decodes now and then),
	// up to 2 for the sealed knock (a forged candidate never passes).
	Skip() int
	// Plausible is a cheap first look at a candidate of n ports, given its
	// first ports (up to 8), without allocating: false when they cannot
	// start a knock, so that the many candidates a flood makes cost little.
	Plausible(prefix []uint16, n int) bool
	// Decode checks a candidate; its errors are *Reject.
	Decode(ports []uint16, src netip.Addr, now time.Time) (Request, error)
}
