package tracker

import (
	"hash/maphash"
	"math/bits"
)

// lru is a fixed-capacity map from key to V with least-recently-used
// order, on arrays allocated at construction: nothing is allocated after
// that, however many entries come and go.
//
// The index is an open-addressing hash table with linear probing, of a
// power of two slots at least twice the capacity (load factor at most
// 1/2, so an expected probe is one or two slots long), and backward-shift
// deletion: removing an entry moves the later entries of its cluster
// back, so no tombstone is ever left and lookups stay correct and short
// however much the table churns. A Go map would do, but its memory grows
// under churn (a flood of spoofed sources is nothing but churn), and
// this table's never does.
//
// The hash is keyed with a seed drawn at random for each table
// (maphash), so a flooder cannot choose addresses that collide into one
// long cluster: without the seed, which never leaves the process, where
// an address lands is unpredictable.
type lru[V any] struct {
	slots      []uint64 // 0: empty; else hash<<32 | entry+1
	mask       uint64
	seed       maphash.Seed
	keys       []key
	vals       []V
	prev, next []int32
	head, tail int32 // most and least recently used; -1 when empty
	free       []int32
	n          int
}

func newLRU[V any](capacity int) lru[V] {
	size := uint64(1) << bits.Len64(uint64(2*capacity-1)) // >= 2*capacity
	l := lru[V]{
		slots: make([]uint64, size),
		mask:  size - 1,
		seed:  maphash.MakeSeed(),
		keys:  make([]key, capacity),
		vals:  make([]V, capacity),
		prev:  make([]int32, capacity),
		next:  make([]int32, capacity),
		head:  -1,
		tail:  -1,
		free:  make([]int32, capacity),
	}
	for i := range l.free {
		l.free[i] = int32(capacity - 1 - i)
	}
	return l
}

func (l *lru[V]) len() int   { return l.n }
func (l *lru[V]) full() bool { return len(l.free) == 0 }
func (l *lru[V]) val(i int) *V {
	return &l.vals[i]
}

// oldest returns the least recently used slot; the lru must not be empty.
func (l *lru[V]) oldest() int { return int(l.tail) }

// hash is the key's 32-bit hash, never 0 so that a slot is never 0
// (empty) by accident. Its low bits are the key's home slot, and all of
// it is kept in the slot, so that most mismatches are seen without
// reading the key.
func (l *lru[V]) hash(k *key) uint64 {
	h := maphash.Comparable(l.seed, *k)
	return (h^h>>32)&0xffffffff | 1<<31
}

// find returns the slot holding k and whether there is one; if there is
// none, the slot returned is the empty one where k would go.
func (l *lru[V]) find(k *key, h uint64) (uint64, bool) {
	for s := h & l.mask; ; s = (s + 1) & l.mask {
		e := l.slots[s]
		if e == 0 {
			return s, false
		}
		if e>>32 == h && l.keys[uint32(e)-1] == *k {
			return s, true
		}
	}
}

func (l *lru[V]) get(k key) (int, bool) {
	s, ok := l.find(&k, l.hash(&k))
	if !ok {
		return 0, false
	}
	return int(uint32(l.slots[s]) - 1), true
}

// insert adds k as the most recent entry; the lru must not be full, nor
// hold k already.
func (l *lru[V]) insert(k key) int {
	i := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	l.keys[i] = k
	h := l.hash(&k)
	s, _ := l.find(&k, h)
	l.slots[s] = h<<32 | uint64(i+1)
	l.pushFront(i)
	l.n++
	return int(i)
}

func (l *lru[V]) remove(i int) {
	s, ok := l.find(&l.keys[i], l.hash(&l.keys[i]))
	if ok {
		l.unindex(s)
	}
	l.unlink(int32(i))
	var zero V
	l.vals[i] = zero
	l.free = append(l.free, int32(i))
	l.n--
}

// unindex empties slot s and shifts back the entries after it in its
// cluster that may move (those whose home slot is not between s and
// where they are), so that every entry stays reachable from its home
// without a gap: the work is the length of the cluster, which the load
// factor and the seeded hash keep short.
func (l *lru[V]) unindex(s uint64) {
	for j := (s + 1) & l.mask; ; j = (j + 1) & l.mask {
		e := l.slots[j]
		if e == 0 {
			break
		}
		home := (e >> 32) & l.mask
		// e may fill the hole at s unless its home lies cyclically in
		// (s, j]: then s comes before its home and would hide it.
		if (j-home)&l.mask >= (j-s)&l.mask {
			l.slots[s] = e
			s = j
		}
	}
	l.slots[s] = 0
}

func (l *lru[V]) touch(i int) {
	if l.head == int32(i) {
		return
	}
	l.unlink(int32(i))
	l.pushFront(int32(i))
}

func (l *lru[V]) pushFront(i int32) {
	l.prev[i] = -1
	l.next[i] = l.head
	if l.head >= 0 {
		l.prev[l.head] = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

func (l *lru[V]) unlink(i int32) {
	p, n := l.prev[i], l.next[i]
	if p >= 0 {
		l.next[p] = n
	} else {
		l.head = n
	}
	if n >= 0 {
		l.prev[n] = p
	} else {
		l.tail = p
	}
}
