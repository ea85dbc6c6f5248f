package tracker

// lru is a fixed-capacity map from key to V with least-recently-used
// order, on preallocated arrays: no allocation after construction, beyond
// the map's own buckets, which stop growing at capacity.
type lru[V any] struct {
	index      map[key]int32
	keys       []key
	vals       []V
	prev, next []int32
	head, tail int32 // most and least recently used; -1 when empty
	free       []int32
	n          int
}

func newLRU[V any](capacity int) lru[V] {
	l := lru[V]{
		index: make(map[key]int32, capacity),
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

func (l *lru[V]) get(k key) (int, bool) {
	i, ok := l.index[k]
	return int(i), ok
}

// insert adds k as the most recent entry; the lru must not be full.
func (l *lru[V]) insert(k key) int {
	i := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	l.keys[i] = k
	l.index[k] = i
	l.pushFront(i)
	l.n++
	return int(i)
}

func (l *lru[V]) remove(i int) {
	delete(l.index, l.keys[i])
	l.unlink(int32(i))
	var zero V
	l.vals[i] = zero
	l.free = append(l.free, int32(i))
	l.n--
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
