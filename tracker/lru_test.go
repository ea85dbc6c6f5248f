package tracker

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

func keyN(n uint64) key {
	var k key
	for i := range 8 {
		k[i] = byte(n >> (8 * i))
	}
	k[15] = 0xff
	return k
}

// check verifies the index against the entries: every entry is found
// where it is, every slot names a live entry, and no slot is reached
// across an empty one from its home (the invariant deletion must keep).
func (l *lru[V]) check(t *testing.T, live map[key]bool) {
	t.Helper()
	used := 0
	for s, e := range l.slots {
		if e == 0 {
			continue
		}
		used++
		k := l.keys[uint32(e)-1]
		if !live[k] {
			t.Fatalf("slot %d names entry %x, which was removed", s, k)
		}
		for p := (e >> 32) & l.mask; p != uint64(s); p = (p + 1) & l.mask {
			if l.slots[p] == 0 {
				t.Fatalf("slot %d: empty slot %d between it and its home", s, p)
			}
		}
	}
	if used != len(live) || l.len() != len(live) {
		t.Fatalf("%d slots used, %d entries, want %d", used, l.len(), len(live))
	}
	for k := range live {
		i, ok := l.get(k)
		if !ok || l.keys[i] != k {
			t.Fatalf("entry %x not found", k)
		}
	}
}

// collide returns n keys whose home slot in l is home.
func collide(l *lru[int], home uint64, n int) []key {
	var ks []key
	for i := uint64(0); len(ks) < n; i++ {
		k := keyN(i)
		if l.hash(&k)&l.mask == home {
			ks = append(ks, k)
		}
	}
	return ks
}

// Keys that share a home slot form one cluster, wrapping around the end
// of the table; removing any of them, in any order, leaves the others
// found.
func TestLRUCollisions(t *testing.T) {
	for _, home := range []uint64{0, 60, 63} {
		l := newLRU[int](32)
		if len(l.slots) != 64 {
			t.Fatalf("%d slots for 32 entries, want 64", len(l.slots))
		}
		ks := collide(&l, home, 12)
		others := collide(&l, (home+3)&l.mask, 4) // a cluster running into the first
		live := map[key]bool{}
		for _, k := range append(append([]key{}, ks[:6]...), append(others, ks[6:]...)...) {
			l.insert(k)
			live[k] = true
		}
		l.check(t, live)
		rng := rand.New(rand.NewPCG(home, 1))
		for _, j := range rng.Perm(len(ks)) {
			i, _ := l.get(ks[j])
			l.remove(i)
			delete(live, ks[j])
			if _, ok := l.get(ks[j]); ok {
				t.Fatalf("home %d: removed key still found", home)
			}
			l.check(t, live)
		}
	}
}

// Random inserts, lookups and removals in a small full table, checked
// against a model after every step.
func TestLRUChurn(t *testing.T) {
	l := newLRU[int](50) // 128 slots
	rng := rand.New(rand.NewPCG(4, 4))
	live := map[key]bool{}
	for step := range 20000 {
		k := keyN(rng.Uint64N(200))
		i, ok := l.get(k)
		if ok != live[k] {
			t.Fatalf("step %d: get %x = %v, model says %v", step, k, ok, live[k])
		}
		switch {
		case ok:
			l.remove(i)
			delete(live, k)
		case l.full():
			delete(live, l.keys[l.oldest()])
			l.remove(l.oldest())
			fallthrough
		default:
			*l.val(l.insert(k)) = step
			live[k] = true
		}
		if step%97 == 0 {
			l.check(t, live)
		}
	}
	l.check(t, live)
}

// Millions of evictions allocate nothing and leave the heap as it was:
// the index never grows, as a Go map's did under this churn.
func TestLRUMemoryFlatThroughEvictions(t *testing.T) {
	tr := New(Config{})
	var k key
	add := func(n int) {
		for i := range n {
			k = keyN(uint64(i) * 0x9e3779b97f4a7c15)
			if tr.probation.full() {
				tr.probation.remove(tr.probation.oldest())
			}
			tr.probation.insert(k)
		}
	}
	add(tr.cfg.Probation) // full
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 3_000_000
	if testing.Short() {
		n = 300_000
	}
	add(n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tr)
	t.Logf("%d evictions: heap %d -> %d KiB, %d mallocs", n, before.HeapAlloc/1024, after.HeapAlloc/1024, after.Mallocs-before.Mallocs)
	if d := after.Mallocs - before.Mallocs; d > 100 {
		t.Errorf("%d allocations through %d evictions", d, n)
	}
	if after.HeapAlloc > before.HeapAlloc+before.HeapAlloc/100 {
		t.Errorf("heap grew from %d to %d bytes through %d evictions", before.HeapAlloc, after.HeapAlloc, n)
	}
}
