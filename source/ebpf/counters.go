package ebpf

// counterNames are the kernel's counters, in the order of enum counter in
// bpf/knock.c.
var counterNames = []string{
	"packets",        // packets the program ran on
	"watched",        // TCP SYNs and UDP datagrams to a watched or single-packet port
	"stage1_inserts", // sources seen once
	"promotions",     // sources seen twice within the timeout
	"ring_events",    // records handed to userspace
	"ring_full",      // records lost: the ring buffer was full
	"spa",            // datagrams to a single-packet port
	"over_budget",    // packets of a source past its budget, not handed
	"dropped",        // watched packets dropped in XDP
}

// Counters implements source.Counters: the kernel's counters summed over
// CPUs, and records (read from the ring) and malformed_records. After
// Close, the last values read.
func (s *Source) Counters() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.last = s.kernelCounters()
	}
	out := make(map[string]uint64, len(counterNames)+2)
	for i, name := range counterNames {
		out[name] = s.last[i]
	}
	out["records"] = s.records
	out["malformed_records"] = s.malformed
	return out
}

// kernelCounters reads the per-CPU counters; s.mu is held. A counter that
// cannot be read keeps its last value.
func (s *Source) kernelCounters() []uint64 {
	sums := make([]uint64, len(counterNames))
	copy(sums, s.last)
	var perCPU []uint64
	for i := range counterNames {
		if err := s.objs.Counters.Lookup(uint32(i), &perCPU); err != nil {
			continue
		}
		sums[i] = 0
		for _, v := range perCPU {
			sums[i] += v
		}
	}
	return sums
}
