package sealed

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// User is one user of a Keyring: a name, and one key, or two during a
// rollover (the old and the new; both open knocks until the old is
// removed from the configuration).
type User struct {
	Name string
	Keys []*Key
}

// KeyringConfig is what a daemon knows of its users.
type KeyringConfig struct {
	// Server is this gate's name, which every version 2 knock to it is
	// sealed for; gates of a fleet may share one on purpose. Empty is the
	// default name, shared by every gate that sets none.
	Server string
	Users  []User
	// Window is the clock skew allowed: 0 for DefaultWindow, at most
	// MaxWindowV2.
	Window time.Duration
	// V1User names the user whose keys open version 1 messages. Empty:
	// the only user when there is one, else version 1 is refused.
	V1User string
}

// Keyring opens the knocks of many users, version 2 (and version 1 for
// one user). It keeps, for each time bucket its window touches and the
// next one, a table from hint to keys, built when the bucket nears:
// a packet looks its hint up in at most (2w/HintPeriod + 2) tables of at
// most SlotCap keys each, whatever the number of users. It is safe for
// concurrent use.
type Keyring struct {
	window int64 // seconds
	users  []string
	keys   []*keysV2
	owner  []int32 // the user of each key
	v1     []*Key
	v1User string

	// prf is the 64-bit PRF of a key for a bucket: the hint is its top 16
	// bits; the rest orders the keys that share a hint. Tests replace it
	// to force collisions.
	prf func(key int, bucket int64) uint64

	mu  sync.Mutex // serializes building
	set atomic.Pointer[tableSet]
}

// tableSet holds the tables of consecutive buckets, first onwards.
type tableSet struct {
	first  int64
	tables []*table
}

func (s *tableSet) get(b int64) *table {
	if s == nil || b < s.first || b-s.first >= int64(len(s.tables)) {
		return nil
	}
	return s.tables[b-s.first]
}

// table maps the hints of one bucket to the keys that have them.
type table struct {
	bucket int64
	slots  map[uint16]slot
	keys   []int32 // key indexes, grouped by hint
	shed   int     // keys beyond SlotCap in their slot
}

type slot struct{ start, n int32 }

func (t *table) lookup(hint uint16) []int32 {
	s, ok := t.slots[hint]
	if !ok {
		return nil
	}
	return t.keys[s.start : s.start+s.n]
}

// NewKeyring derives every user's subkeys for cfg.Server and builds the
// tables of the buckets around now.
func NewKeyring(cfg KeyringConfig, now time.Time) (*Keyring, error) {
	w := cfg.Window
	if w == 0 {
		w = DefaultWindow
	}
	if w < 0 || w > MaxWindowV2 {
		return nil, fmt.Errorf("window %v is outside 0 to %v", cfg.Window, MaxWindowV2)
	}
	if err := checkName("server", cfg.Server); err != nil {
		return nil, err
	}
	if len(cfg.Users) == 0 {
		return nil, errors.New("a keyring needs at least one user")
	}
	r := &Keyring{window: int64(w / time.Second)}
	byName := map[string]int{}
	byKey := map[[KeySize]byte]string{}
	for i, u := range cfg.Users {
		if err := r.addUser(i, u, cfg.Server, byName, byKey); err != nil {
			return nil, err
		}
	}
	switch i, ok := byName[cfg.V1User]; {
	case cfg.V1User != "" && !ok:
		return nil, fmt.Errorf("version 1 user %q is not one of the keyring's users", cfg.V1User)
	case cfg.V1User != "":
		r.v1, r.v1User = cfg.Users[i].Keys, cfg.V1User
	case len(cfg.Users) == 1:
		r.v1, r.v1User = cfg.Users[0].Keys, cfg.Users[0].Name
	}
	r.prf = func(k int, b int64) uint64 {
		h := hmac.New(sha256.New, r.keys[k].hint[:])
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(b)))
		return binary.BigEndian.Uint64(h.Sum(nil))
	}
	r.Advance(now)
	return r, nil
}

func (r *Keyring) addUser(i int, u User, server string, byName map[string]int, byKey map[[KeySize]byte]string) error {
	if u.Name == "" {
		return fmt.Errorf("user %d has no name", i+1)
	}
	if err := checkName("user", u.Name); err != nil {
		return err
	}
	if _, dup := byName[u.Name]; dup {
		return fmt.Errorf("user %q is listed twice", u.Name)
	}
	byName[u.Name] = i
	if len(u.Keys) == 0 || len(u.Keys) > 2 {
		return fmt.Errorf("user %q has %d keys: one, or two during a rollover", u.Name, len(u.Keys))
	}
	r.users = append(r.users, u.Name)
	for _, k := range u.Keys {
		if k == nil || k.s == nil {
			return fmt.Errorf("user %q has an empty key", u.Name)
		}
		if other, dup := byKey[k.s.master]; dup {
			return fmt.Errorf("users %q and %q hold the same key: each user needs their own", other, u.Name)
		}
		byKey[k.s.master] = u.Name
		r.keys = append(r.keys, deriveV2(k, u.Name, server))
		r.owner = append(r.owner, int32(len(r.users)-1))
	}
	return nil
}

// Window is the clock skew the keyring allows.
func (r *Keyring) Window() time.Duration { return time.Duration(r.window) * time.Second }

// span is the range of buckets whose knocks may lie within the window
// of now.
func (r *Keyring) span(now time.Time) (lo, hi int64) {
	t := now.Unix()
	return bucketOf(t - r.window), bucketOf(t + r.window)
}

// Advance builds the tables of the buckets the window of now touches and
// of the bucket after them, and drops older ones but one. The daemon
// calls it once a second, off the packet path: then Open never builds.
// It does nothing when the tables are there, and builds one table (a PRF
// per key) when a bucket rolls. The table kept behind the window lets
// packets stamped with a clock a little behind (another thread's, or a
// capture's) open without rebuilding anything.
func (r *Keyring) Advance(now time.Time) {
	lo, hi := r.span(now)
	hi++ // one ahead
	if covers(r.set.Load(), lo, hi) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.set.Load()
	if covers(old, lo, hi) {
		return
	}
	lo-- // one behind
	next := &tableSet{first: lo, tables: make([]*table, hi-lo+1)}
	for b := lo; b <= hi; b++ {
		if t := old.get(b); t != nil {
			next.tables[b-lo] = t
		} else {
			next.tables[b-lo] = r.build(b)
		}
	}
	r.set.Store(next)
}

func covers(s *tableSet, lo, hi int64) bool {
	return s != nil && s.get(lo) != nil && s.get(hi) != nil
}

// build makes the table of bucket b: a PRF per key, sorted.
func (r *Keyring) build(b int64) *table {
	type entry struct {
		prf uint64
		key int32
	}
	es := make([]entry, len(r.keys))
	for k := range r.keys {
		es[k] = entry{r.prf(k, b), int32(k)}
	}
	slices.SortFunc(es, func(x, y entry) int { return cmp.Compare(x.prf, y.prf) })
	t := &table{bucket: b, slots: make(map[uint16]slot), keys: make([]int32, 0, len(es))}
	for i := 0; i < len(es); {
		hint := uint16(es[i].prf >> 48)
		j := i
		for j < len(es) && uint16(es[j].prf>>48) == hint {
			j++
		}
		n := min(j-i, SlotCap)
		t.slots[hint] = slot{int32(len(t.keys)), int32(n)}
		for _, e := range es[i : i+n] {
			t.keys = append(t.keys, e.key)
		}
		t.shed += j - i - n
		i = j
	}
	return t
}

// Open checks and reads a knock of either version that arrived from src,
// and names its user. A version 2 message is looked up by its hint in
// the table of each bucket the window touches: at most SlotCap keys per
// table are tried, whatever the number of users. A version 1 message is
// opened with the version 1 user's keys (one, or two in a rollover).
// Errors wrap the same sentinels as OpenFrom's; a hint no key has fails
// with ErrAuth, like a tag that does not match. The daemon then refuses
// m.ReplayID() if seen and remembers it until m.Expires(r.Window()).
func (r *Keyring) Open(b []byte, src netip.Addr, now time.Time) (Message, error) {
	m, _, err := r.open(b, src, now)
	return m, err
}

// open is Open, counting the keys it tried.
func (r *Keyring) open(b []byte, src netip.Addr, now time.Time) (Message, int, error) {
	if len(b) == 0 {
		return Message{}, 0, fmt.Errorf("%w: empty", ErrMalformed)
	}
	switch n := SizeOf(b[0]); {
	case n == 0:
		return Message{}, 0, fmt.Errorf("%w: header %#02x is not version %d or %d with an address type and no unknown flags", ErrMalformed, b[0], Version, Version2)
	case n != len(b):
		return Message{}, 0, fmt.Errorf("%w: %d bytes, and header %#02x announces %d", ErrMalformed, len(b), b[0], n)
	case b[0]>>4 == Version:
		return r.openV1(b, src, now)
	}
	var addr netip.Addr
	switch b[0] & 3 {
	case AddrIPv4:
		addr = netip.AddrFrom4([4]byte(b[3:7]))
	case AddrIPv6:
		addr = netip.AddrFrom16([16]byte(b[3:19]))
	default:
		if !src.IsValid() {
			return Message{}, 0, fmt.Errorf("%w: the address is implicit, and no source address was given", ErrAuth)
		}
		addr = src.WithZone("").Unmap()
	}
	hint := binary.BigEndian.Uint16(b[1:])
	lo, hi := r.span(now)
	set := r.set.Load()
	if !covers(set, lo, hi) {
		r.Advance(now) // the daemon did not: build now, once per bucket
		set = r.set.Load()
	}
	tries := 0
	for bucket := lo; bucket <= hi; bucket++ {
		for _, k := range set.get(bucket).lookup(hint) {
			tries++
			m, ok, err := r.keys[k].open(b, addr, bucket)
			if !ok {
				continue
			}
			if err == nil {
				err = checkWindow(m.Time.Unix(), now, r.window)
			}
			if err != nil {
				return Message{}, tries, err
			}
			m.User = r.users[r.owner[k]]
			return m, tries, nil
		}
	}
	return Message{}, tries, errNoKey
}

// errNoKey is made once: a flood of garbage allocates nothing for it.
var errNoKey = fmt.Errorf("%w: no key of the window has its hint and tag", ErrAuth)

func (r *Keyring) openV1(b []byte, src netip.Addr, now time.Time) (Message, int, error) {
	if len(r.v1) == 0 {
		return Message{}, 0, fmt.Errorf("%w: a version 1 message, and the keyring has no version 1 user", ErrMalformed)
	}
	var err error
	for i, k := range r.v1 {
		var m Message
		m, err = OpenFrom(k, b, src, now, r.Window())
		if err == nil {
			m.User = r.v1User
			return m, i + 1, nil
		}
		if !errors.Is(err, ErrAuth) {
			return Message{}, i + 1, err
		}
	}
	return Message{}, len(r.v1), err
}

// KeyringStats describe a keyring's tables, for the daemon's metrics.
type KeyringStats struct {
	Users, Keys int
	Tables      int // buckets held: the window's, the next and the one before
	// Shed counts keys left out of their slot in the tables held because
	// more than SlotCap keys shared its hint: those users' knocks fail
	// until their bucket rolls. It is about never above 0 (docs/sealed.md).
	Shed int
}

// Stats returns the keyring's current figures.
func (r *Keyring) Stats() KeyringStats {
	s := KeyringStats{Users: len(r.users), Keys: len(r.keys)}
	if set := r.set.Load(); set != nil {
		s.Tables = len(set.tables)
		for _, t := range set.tables {
			s.Shed += t.shed
		}
	}
	return s
}
