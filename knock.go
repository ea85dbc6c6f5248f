// Package knock holds the words that every part of the port-knocking
// system shares: the protocol a port is opened for, a port, the knock
// protocol a request came by, the reason a knock was refused, and the
// request a valid knock makes. The engine, the knock decoders, the
// firewall backends, the Knock Lab, the logs and the metrics all speak
// these, so a reason or a port is spelt one way everywhere.
//
// The knock to use is the sealed one (package sealed, spec in
// docs/sealed.md): authenticated, replay-proof, carried over a port span
// or as one UDP datagram. Package legacy is the Perl prototype's knock,
// byte for byte, for existing clients.
package knock

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Proto is the transport protocol of a port: TCP or UDP.
type Proto string

// Transport protocols.
const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// ParseProto reads "tcp" or "udp", in any case.
func ParseProto(s string) (Proto, error) {
	switch p := Proto(strings.ToLower(strings.TrimSpace(s))); p {
	case TCP, UDP:
		return p, nil
	}
	return "", fmt.Errorf("%q is not a protocol: expected tcp or udp", s)
}

// Port is a transport protocol and a port number, written tcp/22.
type Port struct {
	Proto Proto
	Port  uint16
}

func (p Port) String() string { return string(p.Proto) + "/" + strconv.Itoa(int(p.Port)) }

// ParsePort reads "tcp/22", "udp/53" or a bare "22" (TCP).
func ParsePort(s string) (Port, error) {
	proto, num, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		proto, num = "tcp", proto
	}
	p, err := ParseProto(proto)
	n, nerr := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || nerr != nil || n < 1 || n > 65535 {
		return Port{}, fmt.Errorf("%q is not a port: expected tcp/PORT or udp/PORT, PORT from 1 to 65535", s)
	}
	return Port{Proto: p, Port: uint16(n)}, nil
}

// Protocol names the knock protocol a request came by, for logs and the
// "protocol" label of metrics.
type Protocol string

// Knock protocols.
const (
	Legacy Protocol = "legacy" // the Perl prototype's knock (package legacy)
	Sealed Protocol = "sealed" // the authenticated knock (package sealed)
	FWKNOP Protocol = "fwknop" // fwknop's single-packet authorization (package fwknop)
	Knockd Protocol = "knockd" // knockd's static sequences (package knockd)
)

// Reason says why a knock was refused: the check it failed. Reasons are
// ordered by how far a candidate got; the engine reports the furthest.
type Reason string

// Reasons, in the order the checks run.
const (
	ReasonLength      Reason = "length"      // no knock has that many ports
	ReasonMalformed   Reason = "malformed"   // not a message of this protocol
	ReasonSpan        Reason = "span"        // a port outside the knock span
	ReasonDecrypt     Reason = "decrypt"     // legacy: bad padding after decryption
	ReasonSource      Reason = "source"      // the sender's address may not knock here
	ReasonAuth        Reason = "auth"        // the tag or HMAC does not verify
	ReasonChecksum    Reason = "checksum"    // an integrity check inside the knock does not hold
	ReasonUnsupported Reason = "unsupported" // authentic, but asks for what this daemon does not do
	ReasonStale       Reason = "stale"       // the knock's time is outside the window
	ReasonUser        Reason = "user"        // the user is unknown, disabled, or not the one required
	ReasonExpired     Reason = "expired"     // the user's access has expired
	ReasonClient      Reason = "client"      // the address in the knock is not its sender
	ReasonPort        Reason = "port"        // the port is not one the knock may open
	ReasonReplay      Reason = "replay"      // this knock was accepted before
	ReasonFirewall    Reason = "firewall"    // the firewall failed to act
)

// Reasons lists every reason, in stage order.
var Reasons = []Reason{
	ReasonLength, ReasonMalformed, ReasonSpan, ReasonSource, ReasonDecrypt, ReasonAuth, ReasonChecksum,
	ReasonUnsupported, ReasonStale, ReasonUser, ReasonExpired, ReasonClient, ReasonPort, ReasonReplay, ReasonFirewall,
}

var stages = map[Reason]int{
	ReasonLength: 0, ReasonMalformed: 1, ReasonSpan: 1, ReasonSource: 1, ReasonDecrypt: 2, ReasonAuth: 2, ReasonChecksum: 3,
	ReasonUnsupported: 4, ReasonStale: 4, ReasonUser: 5, ReasonExpired: 5, ReasonClient: 5, ReasonPort: 6, ReasonReplay: 7, ReasonFirewall: 8,
}

// Stage is how far a knock that failed for r got: later checks rank
// higher. Unknown reasons rank lowest.
func (r Reason) Stage() int { return stages[r] }

// Authentic reports whether a knock refused for r had passed
// authentication (or, for the legacy knock, decryption and checksum):
// one that deserves the operator's eye rather than a flood's noise.
func (r Reason) Authentic() bool { return r.Stage() >= ReasonStale.Stage() }

// Reject is a refused knock: the check that failed and why.
type Reject struct {
	Reason Reason
	Err    error
}

func (r *Reject) Error() string { return string(r.Reason) + ": " + r.Err.Error() }
func (r *Reject) Unwrap() error { return r.Err }

// Refuse builds a *Reject.
func Refuse(reason Reason, err error) error { return &Reject{Reason: reason, Err: err} }

// ReasonOf returns the reason of a refusal, or "" for other errors.
func ReasonOf(err error) Reason {
	var r *Reject
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// ReplayID identifies one knock for the replay cache.
type ReplayID = [32]byte

// Request is what a valid knock asks for.
type Request struct {
	Protocol Protocol   // the knock protocol it came by
	User     string     // who sent it, when the protocol names users
	Client   netip.Addr // who gets access: from the knock, or the packet's source
	Port     uint16     // the port to open or close
	Proto    Proto      // TCP, UDP, or "" for every protocol the port is protected for
	// Ports, when set, are several ports asked for at once (fwknop's
	// access requests); Port and Proto are then unused. Every one must
	// be protected.
	Ports    []Port
	Duration time.Duration // 0: the configured default
	Limit    time.Duration // the most it may be granted (its user's cap); 0: the daemon's
	Close    bool          // a closing knock
	// ClientInKnock is set when Client came from the knock itself (and
	// may be checked against the packet's source), not from the packet.
	ClientInKnock bool
	ReplayID      ReplayID  // identifies this knock for the replay cache
	ReplayUntil   time.Time // until when a replay must be refused
	// Stamp is the time the knock carries, zero when it carries none.
	Stamp time.Time
	// Fields are the knock's fields by lower-case name ("client",
	// "flag0", ...), for logs, -decode and command templates.
	Fields map[string]string
}
