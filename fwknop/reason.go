package fwknop

import (
	"errors"
	"fmt"
)

// Reason names why a packet was refused: one word, for logs, metrics and
// the lead's mapping onto the project's rejection reasons.
type Reason string

// The reasons, in the order the checks run (docs/fwknop.md).
const (
	ReasonMalformed   Reason = "malformed"   // size, alphabet, base64, blocks, fields
	ReasonPrefixed    Reason = "prefixed"    // starts with U2FsdGVkX1: re-prefixed by someone
	ReasonSource      Reason = "source"      // no stanza admits the source, or REQUIRE_SOURCE_ADDRESS
	ReasonAuth        Reason = "auth"        // no candidate stanza's HMAC verifies
	ReasonGPG         Reason = "gpg"         // unauthenticated and GnuPG-sized: out of scope
	ReasonExpired     Reason = "expired"     // authentic for a stanza past its ACCESS_EXPIRE
	ReasonDecrypt     Reason = "decrypt"     // authentic, but the Rijndael key or mode is wrong
	ReasonUnsupported Reason = "unsupported" // command, NAT or server_auth messages
	ReasonDigest      Reason = "digest"      // the inner digest does not match
	ReasonStale       Reason = "stale"       // timestamp outside now ± max age
	ReasonPort        Reason = "port"        // a requested port the stanza does not allow
	ReasonUser        Reason = "user"        // REQUIRE_USERNAME differs
)

// Reasons is every Reason, for a caller that maps or counts them.
var Reasons = []Reason{ReasonMalformed, ReasonPrefixed, ReasonSource, ReasonAuth, ReasonGPG, ReasonExpired, ReasonDecrypt, ReasonUnsupported, ReasonDigest, ReasonStale, ReasonPort, ReasonUser}

// Error is a refused packet: a Reason and what exactly was wrong. It never
// holds a key.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("fwknop %s: %v", e.Reason, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of an error from Match, or "" for others.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func refuse(r Reason, format string, args ...any) error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}
