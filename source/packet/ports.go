package packet

import (
	"slices"
	"sort"
)

// Range is the ports First to Last, both included.
type Range struct{ First, Last uint16 }

// Ports is a set of ports as sorted, disjoint, non-adjacent ranges: the
// shape an nftables interval set and a BPF filter want, and quick to search.
type Ports []Range

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
