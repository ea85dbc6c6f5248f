package packet

import (
	"slices"
	"sort"

	"github.com/portknock/knock/portspan"
)

// Range is the ports First to Last, both included.
type Range struct{ First, Last uint16 }

// Ports is a set of ports as sorted, disjoint, non-adjacent ranges: the
// shape an nftables interval set and a BPF filter want, and quick to search.
type Ports []Range

// SpanPorts returns the ports of a knock span and the extra ports given
// (the single-packet port, when it lies outside the span). A span lists
// its ports in knock order, possibly in several ranges; here only
// membership counts. sp may be nil.
func SpanPorts(sp *portspan.Span, extra ...uint16) Ports {
	var all []uint16
	if sp != nil {
		all = make([]uint16, sp.Size(), sp.Size()+len(extra))
		for i := range all {
			all[i] = sp.Port(i)
		}
	}
	return PortsOf(append(all, extra...)...)
}

// PortsOf returns the set of the ports given, in any order.
func PortsOf(ports ...uint16) Ports {
	sorted := slices.Clone(ports)
	slices.Sort(sorted)
	var out Ports
	for _, p := range slices.Compact(sorted) {
		if n := len(out); n > 0 && out[n-1].Last+1 == p {
			out[n-1].Last = p
			continue
		}
		out = append(out, Range{p, p})
	}
	return out
}

// Contains reports whether port p is in the set.
func (ps Ports) Contains(p uint16) bool {
	i := sort.Search(len(ps), func(i int) bool { return ps[i].Last >= p })
	return i < len(ps) && ps[i].First <= p
}
