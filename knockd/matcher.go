package knockd

import (
	"net/netip"
	"sync"
	"time"
)

// DefaultCapacity is the number of sources a Matcher follows at once.
const DefaultCapacity = 65536

// DefaultProgressed is the number of sources a Matcher follows at each
// step past the first.
const DefaultProgressed = 256

// Packet is what the Matcher needs of a captured packet. Time is its
// capture time: the Matcher's only clock, as in knockd. Iface names the
// interface it arrived on: packets of other interfaces than the Matcher's
// are not seen.
type Packet struct {
	Time     time.Time
	Src, Dst netip.Addr
	Iface    string
	Proto    Proto
	Port     uint16
	TCPFlags uint8 // TCP only
}

// Event is a door opened for a source.
type Event struct {
	Door *Door
	Src  netip.Addr
	Time time.Time
	// Sequence is the sequence the door opened with (for a one-time
	// door, the line just used).
	Sequence []Step
	// Disabled is set when the door's one-time sequences are used up (or
	// the file could not be written): the door is closed until restart.
	Disabled error
}

// MatcherConfig tunes a Matcher.
type MatcherConfig struct {
	// Interface overrides the file's (as knockd's -i); "" keeps the
	// file's, and without one, eth0.
	Interface string
	// Local are the interface's addresses: a door without Target takes
	// packets to these only.
	Local []netip.Addr
	// AllLocal takes every packet's destination for one of the host's
	// own: set when the capture only delivers packets addressed to this
	// host (knockdaemon's NFLOG rule checks it), so Local need not be
	// listed, and stays right as addresses come and go.
	AllLocal bool
	// Capacity bounds the sources followed at once (DefaultCapacity if 0).
	Capacity int
	// Progressed bounds the sources followed at each step past the first
	// (DefaultProgressed if 0, at most a quarter of Capacity; with
	// KnockdWipe, a quarter of Capacity if 0): a source that has matched
	// k >= 2 steps is evicted, the oldest first, only by another reaching
	// k steps while Progressed sources are there.
	Progressed int
	// KnockdWipe reproduces a knockd 0.8 bug exactly: when the oldest
	// attempt still listed ends (it opened, failed or timed out), knockd
	// forgets every other attempt in progress, of every source
	// (docs/knockd.md). Off, each source is followed by itself, as
	// knockd means to.
	KnockdWipe bool
	// ConsumeOneTime replaces ConsumeOneTime (tests).
	ConsumeOneTime func(path string, used []Step) ([]Step, error)
}

// Matcher follows knock attempts as knockd 0.8 does (docs/knockd.md). It
// is safe for concurrent use; packets must come in capture order.
type Matcher struct {
	mu         sync.Mutex
	iface      string
	local      map[netip.Addr]bool
	allLocal   bool
	doors      []*doorState
	byStep     map[Step][]int // doors having the step anywhere: is the packet seen
	byFirst    map[Step][]int // doors starting with the step, in file order
	consume    func(string, []Step) ([]Step, error)
	sources    map[netip.Addr]*entry
	tiers      []*lru // tiers[k]: sources whose best attempt matched k steps
	capacity   int
	progressed int    // bound of tiers[k], k >= 2
	evicted    uint64 // sources forgotten for room
	wipe       bool
	epoch      uint64 // bumped by a wipe: older entries hold no attempt
	head       headRef
}

// headRef is knockd's list head: the first attempt created since the last
// wipe (KnockdWipe only).
type headRef struct {
	valid bool
	src   netip.Addr
	door  int
	start int64
	done  bool // it opened or failed
}

type doorState struct {
	d        *Door
	seq      []Step
	gen      uint32 // bumped when a one-time sequence replaces seq
	disabled bool
}

type attempt struct {
	door  int
	gen   uint32
	stage int   // steps matched
	start int64 // Unix second of the first knock
}

// NewMatcher returns a Matcher for the doors of c.
func NewMatcher(c *Config, mc MatcherConfig) *Matcher {
	m := &Matcher{
		iface: mc.Interface, local: map[netip.Addr]bool{},
		consume: mc.ConsumeOneTime, sources: map[netip.Addr]*entry{}, capacity: mc.Capacity,
		wipe: mc.KnockdWipe, allLocal: mc.AllLocal,
	}
	if m.iface == "" {
		m.iface = c.Interface
	}
	if m.iface == "" {
		m.iface = DefaultInterface
	}
	if m.consume == nil {
		m.consume = ConsumeOneTime
	}
	if m.capacity <= 0 {
		m.capacity = DefaultCapacity
	}
	if m.capacity < 2 {
		m.capacity = 2
	}
	m.progressed = mc.Progressed
	switch {
	case m.progressed > 0:
	case m.wipe:
		// knockd follows every attempt: no bound tighter than the
		// capacity's.
		m.progressed = m.capacity
	default:
		m.progressed = DefaultProgressed
	}
	m.progressed = max(1, min(m.progressed, m.capacity/4))
	for _, a := range mc.Local {
		m.local[a.WithZone("")] = true
	}
	for _, d := range c.Doors {
		m.doors = append(m.doors, &doorState{d: d, seq: d.Sequence})
	}
	m.reindex()
	return m
}

func (m *Matcher) reindex() {
	m.byStep, m.byFirst = map[Step][]int{}, map[Step][]int{}
	for i, ds := range m.doors {
		if ds.disabled || len(ds.seq) == 0 {
			continue
		}
		m.byFirst[ds.seq[0]] = append(m.byFirst[ds.seq[0]], i)
		for j, s := range ds.seq {
			if !contains(ds.seq[:j], s) {
				m.byStep[s] = append(m.byStep[s], i)
			}
		}
	}
}

func contains(steps []Step, s Step) bool {
	for _, x := range steps {
		if x == s {
			return true
		}
	}
	return false
}

// accepts reports whether door i takes packets to dst: its Target, or
// without one, an address of the interface.
func (m *Matcher) accepts(i int, dst netip.Addr) bool {
	if t := m.doors[i].d.Target; t.IsValid() {
		return dst == t
	}
	return m.allLocal || m.local[dst]
}

func (m *Matcher) flagsMatch(i int, p *Packet) bool {
	return p.Proto != TCP || m.doors[i].d.Flags.Match(p.TCPFlags)
}

// seen is knockd's pcap filter: some door accepts the destination and has
// this protocol and port, and for TCP, the flags match that door's.
func (m *Matcher) seen(p *Packet, dst netip.Addr) bool {
	if p.Iface != m.iface {
		return false
	}
	for _, i := range m.byStep[Step{p.Proto, p.Port}] {
		if m.accepts(i, dst) && m.flagsMatch(i, p) {
			return true
		}
	}
	return false
}

// Packet takes one captured packet and returns the doors it opens.
func (m *Matcher) Packet(p Packet) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	src, dst := p.Src.WithZone(""), p.Dst.WithZone("")
	if !m.seen(&p, dst) {
		return nil
	}
	now := p.Time.Unix()
	if m.wipe && m.head.valid {
		timeout := int64(m.doors[m.head.door].d.SeqTimeout / time.Second)
		if m.head.done || now-m.head.start >= timeout {
			m.epoch++
			m.head = headRef{}
		}
	}
	e := m.sources[src]
	var events []Event
	if e != nil {
		if e.epoch != m.epoch {
			e.attempts, e.epoch = e.attempts[:0], m.epoch
		}
		m.expire(e, now)
		relevant := false
		kept := e.attempts[:0]
		for _, a := range e.attempts {
			if !m.accepts(a.door, dst) {
				kept = append(kept, a)
				continue
			}
			relevant = true
			ds := m.doors[a.door]
			switch {
			case !m.flagsMatch(a.door, &p):
				kept = append(kept, a) // ignored, not ended
			case ds.seq[a.stage] == Step{p.Proto, p.Port}:
				a.stage++
				if a.stage == len(ds.seq) {
					m.ended(src, a.door)
					events = append(events, m.open(a.door, src, p.Time))
				} else {
					kept = append(kept, a)
				}
			default:
				// A wrong step ends the attempt.
				m.ended(src, a.door)
			}
		}
		e.attempts = kept
		if relevant {
			m.settle(e)
			return events
		}
	}
	for _, i := range m.byFirst[Step{p.Proto, p.Port}] {
		if m.doors[i].disabled || !m.accepts(i, dst) || !m.flagsMatch(i, &p) {
			continue
		}
		if m.wipe && !m.head.valid {
			m.head = headRef{valid: true, src: src, door: i, start: now}
		}
		if len(m.doors[i].seq) == 1 {
			m.ended(src, i)
			events = append(events, m.open(i, src, p.Time))
			continue
		}
		if e == nil {
			e = m.add(src)
		}
		e.attempts = append(e.attempts, attempt{door: i, gen: m.doors[i].gen, stage: 1, start: now})
	}
	if e != nil {
		m.settle(e)
	}
	return events
}

// ended notes that src's attempt on door i opened or failed: if it is
// knockd's list head, the next packet wipes every attempt.
func (m *Matcher) ended(src netip.Addr, i int) {
	if m.head.valid && m.head.src == src && m.head.door == i {
		m.head.done = true
	}
}

// expire drops the attempts knockd would drop before looking at a packet
// of this second: timed out, or on a sequence that changed since.
func (m *Matcher) expire(e *entry, now int64) {
	kept := e.attempts[:0]
	for _, a := range e.attempts {
		ds := m.doors[a.door]
		timeout := int64(ds.d.SeqTimeout / time.Second)
		if ds.disabled || a.gen != ds.gen || now-a.start >= timeout {
			continue
		}
		kept = append(kept, a)
	}
	e.attempts = kept
}

// open reports door i open for src and moves a one-time door on.
func (m *Matcher) open(i int, src netip.Addr, t time.Time) Event {
	ds := m.doors[i]
	ev := Event{Door: ds.d, Src: src, Time: t, Sequence: ds.seq}
	if ds.d.OneTime == "" {
		return ev
	}
	next, err := m.consume(ds.d.OneTime, ds.seq)
	ds.gen++
	if err != nil {
		ds.disabled = true
		ev.Disabled = err
	} else {
		ds.seq = next
	}
	m.reindex()
	return ev
}

// Sequence returns door i's current sequence (it changes with one-time
// sequences) and whether the door is still enabled.
func (m *Matcher) Sequence(d *Door) ([]Step, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ds := range m.doors {
		if ds.d == d {
			return ds.seq, !ds.disabled
		}
	}
	return nil, false
}

// Sources returns how many sources are followed.
func (m *Matcher) Sources() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sources)
}

// Evicted returns how many sources were forgotten to make room for others
// (a flood, or more knockers at once than Capacity or Progressed allow).
func (m *Matcher) Evicted() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted
}
