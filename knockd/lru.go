package knockd

import "net/netip"

// The Matcher's per-source state is bounded: at most Capacity sources, in
// two least-recently-used lists (a segmented LRU). A source enters "fresh"
// on its first knock; once one of its attempts passes the first step it
// moves to "kept", which holds at most half the capacity. A new source
// evicts the oldest fresh source, and a kept one only when no fresh one is
// left. A flood of spoofed first knocks, each from a new address, thus
// churns the fresh list only: a real knocker is safe from its second knock
// on, and from its first as long as fewer than Capacity/2 new sources
// arrive before its second. Spoofed sources reach "kept" only by sending
// two correct steps from one address.

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

// add starts following src, evicting the least recently seen source if
// the Matcher is full.
func (m *Matcher) add(src netip.Addr) *entry {
	if len(m.sources) >= m.capacity {
		victim := m.fresh.tail
		if victim == nil {
			victim = m.kept.tail
		}
		victim.list.remove(victim)
		delete(m.sources, victim.src)
	}
	e := &entry{src: src, epoch: m.epoch}
	m.sources[src] = e
	m.fresh.pushFront(e)
	return e
}

// settle files e after a packet: forgotten without attempts, else most
// recent in the list its progress earns.
func (m *Matcher) settle(e *entry) {
	if e.list != nil {
		e.list.remove(e)
	}
	if len(e.attempts) == 0 {
		delete(m.sources, e.src)
		return
	}
	progressed := false
	for _, a := range e.attempts {
		progressed = progressed || a.stage >= 2
	}
	if !progressed {
		m.fresh.pushFront(e)
		return
	}
	m.kept.pushFront(e)
	if m.kept.n > m.capacity/2 {
		old := m.kept.tail
		m.kept.remove(old)
		m.fresh.pushFront(old)
	}
}
