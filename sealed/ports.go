package sealed

import (
	"fmt"

	"github.com/portknock/knock/portspan"
)

// Encode maps a sealed message onto ports of span, as the legacy knock's
// bytes are mapped: package portspan, most significant bit first.
func Encode(span *portspan.Span, b []byte) []uint16 { return span.Pack(b) }

// Decode maps ports back onto a sealed message of either version. Two
// sizes may take the same number of ports (a 20-byte version 1 message
// and a 21-byte version 2 one both take 14 ports of a 4096-port span),
// so Decode tries each size that fits and keeps the one whose header
// announces it: the header's first 8 bits are the same whichever size
// is tried, so at most one does. Errors wrap ErrMalformed, and
// portspan's error when it found one.
func Decode(span *portspan.Span, ports []uint16) ([]byte, error) {
	var first error
	for _, n := range allSizes {
		if span.Ports(n) != len(ports) {
			continue
		}
		b, err := span.Unpack(ports, n)
		switch {
		case err != nil:
			err = fmt.Errorf("%w: %w", ErrMalformed, err)
		case SizeOf(b[0]) != n:
			err = fmt.Errorf("%w: header %#02x does not announce a %d-byte message", ErrMalformed, b[0], n)
		default:
			return b, nil
		}
		if first == nil {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	return nil, fmt.Errorf("%w: %d ports; a sealed knock on %q takes %v", ErrMalformed, len(ports), span, Lengths(span))
}

// Lengths returns, shortest first and each once, every number of ports
// a sealed knock of either version takes on span (version 1: implicit
// address, IPv4, IPv6; version 2: each one byte longer). The daemon tries
// the tail of a source's queue at each.
func Lengths(span *portspan.Span) []int {
	out := make([]int, 0, len(allSizes))
	for _, n := range allSizes {
		if p := span.Ports(n); len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out
}
