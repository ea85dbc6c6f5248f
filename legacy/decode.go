package legacy

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/portknock/knock"
	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/portspan"
)

// Decode errors, one per check, for callers that count why knocks fail.
// Every error Decode returns wraps exactly one of them.
var (
	// ErrNotInSpan: a port of the sequence is not in the port span.
	ErrNotInSpan = errors.New("port outside the span")
	// ErrLength: no valid knock has this many ports.
	ErrLength = errors.New("wrong knock length")
	// ErrDecrypt: decryption failed (bad padding: wrong key, or damage).
	ErrDecrypt = errors.New("decryption failed")
	// ErrChecksum: the knock decrypted, but its checksum does not hold.
	ErrChecksum = format.ErrChecksum
)

// Reason names the check a Decode error failed, for logs and counters:
// "span", "length", "decrypt", "checksum", or "" for other errors.
func Reason(err error) knock.Reason {
	switch {
	case errors.Is(err, ErrNotInSpan):
		return knock.ReasonSpan
	case errors.Is(err, ErrLength):
		return knock.ReasonLength
	case errors.Is(err, ErrDecrypt):
		return knock.ReasonDecrypt
	case errors.Is(err, ErrChecksum):
		return knock.ReasonChecksum
	}
	return ""
}

// decodeError is a decode failure whose message is only formatted when
// someone reads it: a daemon under a flood rejects millions of candidates
// and logs almost none.
type decodeError struct {
	kind   error // one of the sentinels
	cause  error // the lower layer's error, if any
	format string
	args   []any
}

func (e *decodeError) Error() string {
	msg := e.kind.Error()
	if e.format != "" {
		msg += ": " + fmt.Sprintf(e.format, e.args...)
	}
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

// Is matches the sentinel without allocating, as errors.Is would through
// an Unwrap returning both errors.
func (e *decodeError) Is(target error) bool { return target == e.kind }

func (e *decodeError) Unwrap() error { return e.cause }

// errNoHeader is returned, without allocating, for the commonest garbage:
// a candidate as long as a RandomIV knock that does not start with it.
var errNoHeader = &decodeError{kind: ErrDecrypt, format: "no RandomIV header where this length needs one"}

// Decode reads a knock sequence back into its values. When only the
// checksum fails, the values are returned with an error wrapping
// ErrChecksum, so that they can be shown.
func (c *Codec) Decode(ports []uint16) (Values, error) {
	t, err := c.DecodeTrace(ports)
	return t.Values, err
}

// DecodeTrace is Decode returning every stage it reached.
func (c *Codec) DecodeTrace(ports []uint16) (Trace, error) {
	t := Trace{Ports: ports}
	sizes, ok := c.byPorts[len(ports)]
	if !ok {
		return t, &decodeError{kind: ErrLength, format: "%d ports; a knock here has %s", args: []any{len(ports), c.lengthsText()}}
	}
	if c.headerOnly[len(ports)] && !c.startsWithHeader(ports) {
		return t, errNoHeader
	}
	t.Symbols = make([]int, len(ports))
	for i, p := range ports {
		v, ok := c.span.Index(p)
		if !ok {
			return t, &decodeError{kind: ErrNotInSpan, format: "port %d (knock %d of %d) is not in %q", args: []any{p, i + 1, len(ports), c.span}}
		}
		t.Symbols[i] = v
	}
	var err error
	for _, n := range sizes {
		if t, err = c.decodeBytes(t, n); err == nil || errors.Is(err, ErrChecksum) {
			return t, err
		}
	}
	return t, err
}

func (c *Codec) decodeBytes(t Trace, n int) (Trace, error) {
	sealed, err := c.span.UnpackSymbols(t.Symbols, n)
	if err != nil {
		if errors.Is(err, portspan.ErrLastSymbol) {
			return t, &decodeError{kind: ErrNotInSpan, cause: err}
		}
		return t, &decodeError{kind: ErrLength, cause: err}
	}
	t.Sealed, t.Plain = sealed, sealed
	if c.cipher != nil {
		// A knock this long can only be a RandomIV knock: without the
		// header, the rest need not be decrypted.
		if n != c.cipher.CiphertextLen(c.format.Len()) && !bytes.HasPrefix(sealed, []byte(cbc.Header)) {
			return t, &decodeError{kind: ErrDecrypt, format: "%d bytes without a RandomIV header", args: []any{n}}
		}
		t.Plain, t.IV, err = c.cipher.Decrypt(sealed)
		if err != nil {
			return t, &decodeError{kind: ErrDecrypt, cause: err}
		}
	}
	t.Values, err = c.format.Unpack(t.Plain)
	switch {
	case errors.Is(err, ErrChecksum):
		return t, err
	case err != nil:
		// Whole blocks with good padding but the wrong length of
		// plaintext: the key or the format is wrong.
		return t, &decodeError{kind: ErrDecrypt, format: "decrypted to %d bytes, the knock format takes %d", args: []any{len(t.Plain), c.format.Len()}}
	}
	return t, nil
}

// startsWithHeader reports whether ports begin with the RandomIV header,
// reading only as many ports as it takes to tell, without allocating.
func (c *Codec) startsWithHeader(ports []uint16) bool {
	var acc uint32
	have, got := 0, 0
	bits := c.span.Bits()
	for i, p := range ports {
		if i == len(ports)-1 {
			return false // the header never reaches the short last group
		}
		v, ok := c.span.Index(p)
		if !ok {
			return false
		}
		acc = acc<<bits | uint32(v)
		have += bits
		for have >= 8 {
			have -= 8
			if byte(acc>>have) != cbc.Header[got] {
				return false
			}
			if got++; got == len(cbc.Header) {
				return true
			}
		}
		acc &= 1<<have - 1
	}
	return false
}

func (c *Codec) lengthsText() string {
	s := ""
	for i, n := range c.lengths {
		switch {
		case i == 0:
		case i == len(c.lengths)-1:
			s += " or "
		default:
			s += ", "
		}
		s += fmt.Sprint(n)
	}
	return s
}
