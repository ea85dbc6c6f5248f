package sealed

import (
	"fmt"

	"github.com/portknock/knock/portspan"
)

// Encode maps a sealed message onto ports of span, as the legacy knock's
// bytes are mapped: package portspan, most significant bit first.
func Encode(span *portspan.Span, b []byte) []uint16 { return span.Pack(b) }

// Decode maps ports back onto a sealed message: the one message size
// that takes len(ports) ports on span (sizes differ by 4 bytes or more,
// so at most one does). The header must announce that size. Errors wrap
// ErrMalformed, and portspan's error when it found one.
func Decode(span *portspan.Span, ports []uint16) ([]byte, error) {
	for _, n := range sizes {
		if span.Ports(n) != len(ports) {
			continue
		}
		b, err := span.Unpack(ports, n)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if SizeOf(b[0]) != n {
			return nil, fmt.Errorf("%w: header %#02x does not announce a %d-byte message", ErrMalformed, b[0], n)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: %d ports; a sealed knock on %q takes %v", ErrMalformed, len(ports), span, Lengths(span))
}

// Lengths returns, shortest first, every number of ports a sealed knock
// takes on span: implicit address, IPv4, IPv6. The daemon tries the tail
// of a source's queue at each.
func Lengths(span *portspan.Span) []int {
	out := make([]int, len(sizes))
	for i, n := range sizes {
		out[i] = span.Ports(n)
	}
	return out
}
