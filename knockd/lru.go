package knockd

import "net/netip"

// The Matcher's per-source state is bounded: at most Capacity sources, in
// least-recently-used lists by progress (a segmented LRU). A source's
// progress is the most steps any of its attempts has matched; list k holds
// the sources of progress k. A source that has matched k steps is evicted
// only by a source that has just matched k steps too, the least recently
// seen first:
//
//   - a new source (progress 1) evicts the oldest source of progress 1
//     when the Matcher is full;
//   - a source reaching progress k >= 2 evicts the oldest source of
//     progress k when that list holds Progressed sources.
//
// A flood of spoofed packets reaches progress k at a rate that falls with
// k, so it churns the first lists fastest and the deeper ones slowly; a
// knocker sending its steps in quick succession stays the newest of each
// list it passes through. The bound on the deeper lists also bounds the
// time a spoofed source may sit halfway through a sequence while the flood
// runs: it is evicted before it completes the sequence by chance, unless
// its next right step comes soon (docs/knockd.md, Bounded state).

type entry struct {
	src        netip.Addr
	attempts   []attempt
	epoch      uint64
	prev, next *entry
	list       *lru
}

// lru is a doubly linked list, most recent at head.
type lru struct {
	head, tail *entry
	n          int
}

func (l *lru) pushFront(e *entry) {
	e.list, e.prev, e.next = l, nil, l.head
	if l.head != nil {
		l.head.prev = e
	}
	l.head = e
	if l.tail == nil {
		l.tail = e
	}
	l.n++
}

func (l *lru) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next, e.list = nil, nil, nil
	l.n--
}

// tier returns the list of the sources of progress k.
func (m *Matcher) tier(k int) *lru {
	for len(m.tiers) <= k {
		m.tiers = append(m.tiers, &lru{})
	}
	return m.tiers[k]
}

// drop forgets e.
func (m *Matcher) drop(e *entry) {
	e.list.remove(e)
	delete(m.sources, e.src)
	m.evicted++
}

// add starts following src, evicting the least recently seen source of
// progress 1 if the Matcher is full (of a deeper list only if none is
// left, which the bound on the deeper lists prevents).
func (m *Matcher) add(src netip.Addr) *entry {
	if len(m.sources) >= m.capacity {
		for k := 1; k < len(m.tiers); k++ {
			if victim := m.tiers[k].tail; victim != nil {
				m.drop(victim)
				break
			}
		}
	}
	e := &entry{src: src, epoch: m.epoch}
	m.sources[src] = e
	m.tier(1).pushFront(e)
	return e
}

// settle files e after a packet: forgotten without attempts, else most
// recent in the list of its progress, evicting that list's oldest source
// if it is full.
func (m *Matcher) settle(e *entry) {
	if e.list != nil {
		e.list.remove(e)
	}
	if len(e.attempts) == 0 {
		delete(m.sources, e.src)
		return
	}
	k := 1
	for _, a := range e.attempts {
		k = max(k, a.stage)
	}
	l := m.tier(k)
	if k >= 2 && l.n >= m.progressed {
		m.drop(l.tail)
	}
	l.pushFront(e)
}
