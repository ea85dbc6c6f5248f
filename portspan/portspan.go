// Package portspan maps knock bytes onto a span of 2^N ports and back.
//
// A span is written as the prototype wrote it, `a-b,c,d-e,...`: ports in the
// order listed, non-contiguous ranges allowed. Its size must be 2^N for some
// N from 1 to 16, so that every group of N bits names exactly one port.
//
// The bytes of a knock are read as one bit string, most significant bit
// first, and cut into groups of N bits. The last group may be shorter; it
// keeps its value as is (right-aligned, not shifted up). Each group's value v
// becomes the v-th port of the span, counting from 0. With 256 ports this is
// simply port = first + byte, the prototype's original mapping.
package portspan

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// MaxBits is the largest N: a span of 65536 ports covers every port there is.
const MaxBits = 16

// Errors returned by Unpack, for callers that count why a sequence failed.
var (
	// ErrNotInSpan means a port of the sequence is not a port of the span.
	ErrNotInSpan = errors.New("port not in span")
	// ErrLength means the number of ports cannot carry the requested bytes.
	ErrLength = errors.New("wrong number of ports")
	// ErrLastSymbol means the final, shorter group holds more bits than it can.
	ErrLastSymbol = errors.New("last port carries more bits than fit")
)

// Span is a parsed port span. The zero value is not usable; call Parse.
type Span struct {
	ports  []uint16
	ranges []run // sorted by first port, for Index
	bits   int
	text   string
}

// run is one range of the span: ports first..first+n-1 sit at positions
// at..at+n-1. Lookups search the runs, which are few, instead of a map of
// up to 65536 ports.
type run struct {
	first, n, at int
}

// Parse reads a span such as "745-1000" or "1024-5000,6000-25000,26000-35789".
func Parse(s string) (*Span, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return nil, errors.New("empty port span: expected ranges such as \"745-1000\"")
	}
	sp := &Span{text: text}
	for _, part := range strings.Split(text, ",") {
		lo, hi, err := parseRange(part)
		if err != nil {
			return nil, fmt.Errorf("port span %q: %w", text, err)
		}
		sp.ranges = append(sp.ranges, run{first: lo, n: hi - lo + 1, at: len(sp.ports)})
		for p := lo; p <= hi; p++ {
			sp.ports = append(sp.ports, uint16(p))
		}
	}
	slices.SortFunc(sp.ranges, func(a, b run) int { return a.first - b.first })
	for i := 1; i < len(sp.ranges); i++ {
		if prev := sp.ranges[i-1]; prev.first+prev.n > sp.ranges[i].first {
			return nil, fmt.Errorf("port span %q: port %d is listed twice (ranges overlap)", text, sp.ranges[i].first)
		}
	}
	n := len(sp.ports)
	if n < 2 || bits.OnesCount(uint(n)) != 1 {
		return nil, fmt.Errorf("port span %q has %d ports: it must have 2^N ports for N from 1 to 16 (2, 4, ..., 256, ..., 65536)%s", text, n, nearest(n))
	}
	sp.bits = bits.TrailingZeros(uint(n))
	return sp, nil
}

func nearest(n int) string {
	if n < 2 {
		return ""
	}
	lo := 1 << (bits.Len(uint(n)) - 1)
	if lo*2 > 1<<MaxBits {
		return fmt.Sprintf("; the nearest is %d", lo)
	}
	return fmt.Sprintf("; the nearest are %d and %d", lo, lo*2)
}

func parseRange(part string) (lo, hi int, err error) {
	part = strings.TrimSpace(part)
	if part == "" {
		return 0, 0, errors.New("empty range between commas")
	}
	a, b, isRange := strings.Cut(part, "-")
	if lo, err = parsePort(a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parsePort(b); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %q is reversed: write it as \"%d-%d\"", part, hi, lo)
	}
	return lo, hi, nil
}

func parsePort(s string) (int, error) {
	s = strings.TrimSpace(s)
	p, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if p < 0 || p > 65535 {
		return 0, fmt.Errorf("port %d is outside 0-65535", p)
	}
	return p, nil
}

// Bits is N, the number of bits each port carries.
func (s *Span) Bits() int { return s.bits }

// Size is the number of ports in the span, 2^N.
func (s *Span) Size() int { return len(s.ports) }

// Port returns the v-th port of the span. v must be below Size.
func (s *Span) Port(v int) uint16 { return s.ports[v] }

// Index returns the position of port p in the span.
func (s *Span) Index(p uint16) (int, bool) {
	rs := s.ranges
	// Find the last run starting at or below p.
	lo, hi := 0, len(rs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rs[m].first <= int(p) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return 0, false
	}
	r := rs[lo-1]
	if off := int(p) - r.first; off < r.n {
		return r.at + off, true
	}
	return 0, false
}

// Contains reports whether port p belongs to the span.
func (s *Span) Contains(p uint16) bool {
	_, ok := s.Index(p)
	return ok
}

// String returns the span as it was written.
func (s *Span) String() string { return s.text }

// Ports returns how many ports it takes to carry n bytes.
func (s *Span) Ports(n int) int { return (8*n + s.bits - 1) / s.bits }

// Pack maps bytes onto ports.
func (s *Span) Pack(b []byte) []uint16 {
	out := make([]uint16, 0, s.Ports(len(b)))
	var acc uint32 // pending bits, right-aligned
	var have int
	mask := uint32(1)<<s.bits - 1
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		have += 8
		for have >= s.bits {
			have -= s.bits
			out = append(out, s.ports[acc>>have&mask])
		}
		acc &= 1<<have - 1
	}
	if have > 0 {
		out = append(out, s.ports[acc])
	}
	return out
}

// Unpack maps ports back onto n bytes. It fails when a port is not in the
// span, when the number of ports is not the one n bytes take, or when the
// last, shorter group holds a value too large for its width.
func (s *Span) Unpack(ports []uint16, n int) ([]byte, error) {
	syms := make([]int, len(ports))
	for i, p := range ports {
		v, ok := s.Index(p)
		if !ok {
			return nil, fmt.Errorf("%w: port %d (knock %d of %d) is not in %q", ErrNotInSpan, p, i+1, len(ports), s.text)
		}
		syms[i] = v
	}
	return s.UnpackSymbols(syms, n)
}

// UnpackSymbols is Unpack for ports already turned into their positions in
// the span (symbols), so that a caller trying several byte counts looks
// each port up once.
func (s *Span) UnpackSymbols(syms []int, n int) ([]byte, error) {
	if want := s.Ports(n); len(syms) != want {
		return nil, fmt.Errorf("%w: %d bytes take %d ports, got %d", ErrLength, n, want, len(syms))
	}
	out := make([]byte, 0, n)
	var acc uint32
	var have int
	for i, sym := range syms {
		v := uint32(sym)
		width := s.bits
		if i == len(syms)-1 {
			width = 8*n - s.bits*(len(syms)-1)
			if v>>width != 0 {
				return nil, fmt.Errorf("%w: port %d is symbol %d, but the last group has only %d bits", ErrLastSymbol, s.ports[sym], v, width)
			}
		}
		acc = acc<<width | v
		have += width
		for have >= 8 {
			have -= 8
			out = append(out, byte(acc>>have))
		}
		acc &= 1<<have - 1
	}
	return out, nil
}

// Overlaps reports whether s and o share a port.
func (s *Span) Overlaps(o *Span) bool {
	for _, p := range s.ports {
		if o.Contains(p) {
			return true
		}
	}
	return false
}
