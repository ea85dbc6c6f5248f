// Package sealed is the authenticated knock: what new deployments should
// use instead of the prototype's CBC knock, which can be altered without
// the key, passes its checks by chance once in about 65,000 random
// sequences, and can be replayed. Its specification is docs/sealed.md;
// this comment is the short version.
//
// A sealed message binds the client address, port, protocol, duration,
// open or close, a timestamp and a nonce under a 256-bit key, in a
// synthetic-IV construction built from HMAC-SHA256 alone:
//
//	tag  = HMAC(macKey, header || family || address || time64 || body)[:8]
//	wire = header || address || body XOR HMAC(encKey, tag)[:7] || tag
//
// The tag doubles as the IV, so no nonce has to be sent for the
// encryption's sake and a repeated nonce never weakens it: equal messages
// give equal bytes (a replay, refused by the daemon's cache), and
// different ones differ in their tag but with probability 2^-64. Only the
// header and the client address travel in clear; port, protocol,
// duration, flags, timestamp and nonce are encrypted. A message is 16
// bytes when the client address is implicit (authenticated as the
// packet's source address, not sent), 20 with an IPv4 address, 32 with
// an IPv6 one; the legacy Blowfish knock is 8.
//
// The daemon's side, for a knock of several ports:
//
//	for _, n := range sealed.Lengths(span) { // try the queue's tail
//		b, err := sealed.Decode(span, tail(queue, n))
//		...
//		m, err := sealed.OpenFrom(key, b, source, now, window)
//		... refuse m.ReplayID() if seen; remember it until m.Expires(window)
//	}
//
// and for single packet authorization, ParseSPA on a UDP payload before
// OpenFrom. Everything that varies (key, clock, randomness, source) is
// passed in; the package keeps no state.
//
// Version 2 (one byte more) serves many users, each with their own key,
// and binds a knock to the server's name. The client seals with
// NewSender(user, key, server); the daemon builds a Keyring from its
// server name and users, calls Advance(now) once a second, and opens
// version 2 (and, for one user, version 1) with Keyring.Open, which finds
// the user by a 16-bit hint that rotates every minute, trying a bounded
// number of keys whatever the number of users. Decode, ParseSPA, SizeOf
// and Lengths know both versions; Open and OpenFrom refuse version 2.
package sealed

import (
	"errors"
	"net/netip"
	"time"
)

// Spec constants, named as docs/sealed.md names them.
const (
	Version = 1 // the header's high nibble

	AddrImplicit = 0 // no address sent: the packet's source is authenticated
	AddrIPv4     = 1 // 4 address bytes follow the header
	AddrIPv6     = 2 // 16 address bytes follow the header

	HeaderSize = 1
	BodySize   = 7 // time16, port16, duration code, close|udp|nonce14
	TagSize    = 8

	NonceBits = 14
	MaxNonce  = 1<<NonceBits - 1

	// MaxWindow bounds the clock-skew window: the timestamp carries 16
	// bits of Unix seconds, read as the nearest second to the receiver's
	// clock, so a window must stay below 2^15 s (9 h 6 min).
	MaxWindow     = 8 * time.Hour
	DefaultWindow = 60 * time.Second
)

// Protocols a message can name.
const (
	TCP = "tcp"
	UDP = "udp"
)

// Errors from Open, OpenFrom, Decode and ParseSPA: every error they return
// for bad input wraps exactly one of these.
var (
	// ErrAuth: the tag does not match (forged, altered, wrong key, or
	// an implicit address that is not the packet's source).
	ErrAuth = errors.New("authentication failed")
	// ErrExpired: authentic, but stamped before the window.
	ErrExpired = errors.New("timestamp before the window")
	// ErrFuture: authentic, but stamped after the window.
	ErrFuture = errors.New("timestamp after the window")
	// ErrMalformed: not a sealed message of this version (length, header,
	// ports, SPA framing), or authentic fields out of range.
	ErrMalformed = errors.New("malformed sealed message")
)

// Reason names the check an error failed, for counters: "auth",
// "expired", "future", "malformed", or "" for other errors.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrAuth):
		return "auth"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrFuture):
		return "future"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	}
	return ""
}

// Message is what a sealed knock says.
type Message struct {
	// Client is the address to open for. IPv4-mapped IPv6 addresses are
	// sealed as IPv4; zones are refused.
	Client netip.Addr
	// Implicit leaves Client out of the bytes: it is authenticated as the
	// source address the daemon sees, which saves 4 or 16 bytes but fails
	// behind NAT, where the client cannot know that address.
	Implicit bool
	Port     uint16 // 1-65535
	Proto    string // TCP or UDP
	// Duration is how long to open: 0 for the daemon's default, else a
	// whole count of 1-63 seconds, minutes, hours or days (RoundDuration).
	// A close carries 0.
	Duration time.Duration
	Close    bool
	Time     time.Time // sealed to the second
	Nonce    uint16    // version 1: 0 to MaxNonce; version 2: any; Seal draws it
	// User is the name of the user whose key opened the message, set by
	// Keyring.Open (for a version 1 message too: its version 1 user); Open
	// and OpenFrom leave it empty. It is never sent: the key names it.
	User string

	id [16]byte // set by Open
}

// ReplayID identifies a message opened by Open or OpenFrom: two messages
// share it only if they are the same knock (a replay). It is the first 16
// bytes of the message's MAC, so it reveals nothing of its contents. It is
// zero for a message that was not opened.
func (m Message) ReplayID() [16]byte { return m.id }

// Expires is the first instant at which Open refuses m as expired under
// window: the daemon remembers m.ReplayID() until then, and no longer.
func (m Message) Expires(window time.Duration) time.Time {
	return time.Unix(m.Time.Unix()+int64(window/time.Second)+1, 0).UTC()
}
