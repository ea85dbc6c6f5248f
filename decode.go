package knock

import (
	"errors"
	"fmt"

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
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrNotInSpan):
		return "span"
	case errors.Is(err, ErrLength):
		return "length"
	case errors.Is(err, ErrDecrypt):
		return "decrypt"
	case errors.Is(err, ErrChecksum):
		return "checksum"
	}
	return ""
}

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
		return t, fmt.Errorf("%w: %d ports; a knock here has %s", ErrLength, len(ports), c.lengthsText())
	}
	t.Symbols = make([]int, len(ports))
	for i, p := range ports {
		v, ok := c.span.Index(p)
		if !ok {
			return t, fmt.Errorf("%w: port %d (knock %d of %d) is not in %q", ErrNotInSpan, p, i+1, len(ports), c.span)
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
	sealed, err := c.span.Unpack(t.Ports, n)
	if err != nil {
		if errors.Is(err, portspan.ErrLastSymbol) {
			return t, fmt.Errorf("%w: %w", ErrNotInSpan, err)
		}
		return t, fmt.Errorf("%w: %w", ErrLength, err)
	}
	t.Sealed = sealed
	t.Plain = sealed
	if c.cipher != nil {
		t.Plain, t.IV, err = c.cipher.Open(sealed)
		if err != nil {
			return t, fmt.Errorf("%w: %w", ErrDecrypt, err)
		}
	}
	t.Values, err = c.format.Unpack(t.Plain)
	switch {
	case errors.Is(err, ErrChecksum):
		return t, err
	case err != nil:
		// A whole number of blocks with good padding but the wrong
		// length of plaintext: the key or the format is wrong.
		return t, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return t, nil
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
