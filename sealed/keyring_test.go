package sealed_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portknock/knock/sealed"
)

const gate = "gate-a.example.net"

// fakeClock is the daemon's clock in these tests: it moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time           { return c.t }
func (c *fakeClock) Add(d time.Duration)      { c.t = c.t.Add(d) }
func newClock() *fakeClock                    { return &fakeClock{time.Unix(1767225600, 0)} }
func userKey(t testing.TB, i int) *sealed.Key { return seededKey(t, fmt.Sprint("user key ", i)) }

func seededKey(t testing.TB, s string) *sealed.Key {
	t.Helper()
	b := sha256.Sum256([]byte(s))
	k, err := sealed.NewKey(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func users(t testing.TB, n int) []sealed.User {
	t.Helper()
	us := make([]sealed.User, n)
	for i := range us {
		us[i] = sealed.User{Name: fmt.Sprintf("user%05d", i), Keys: []*sealed.Key{userKey(t, i)}}
	}
	return us
}

var (
	bigOnce sync.Once
	bigRing []sealed.User
)

// bigUsers is 10,000 users, made once for the tests and benchmarks.
func bigUsers(t testing.TB) []sealed.User {
	bigOnce.Do(func() { bigRing = users(t, 10000) })
	return bigRing
}

func sender(t testing.TB, u sealed.User, key int, server string) *sealed.Sender {
	t.Helper()
	s, err := sealed.NewSender(u.Name, u.Keys[key], server)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func knockAt(t testing.TB, s *sealed.Sender, at time.Time, nonce uint16) []byte {
	t.Helper()
	m := base
	m.Time, m.Nonce = at, nonce
	b, err := s.SealNonce(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeyringLookup: with one user and with 10,000, each user's knock
// opens as that user, and another user's key or server does not.
func TestKeyringLookup(t *testing.T) {
	for _, n := range []int{1, 10000} {
		t.Run(fmt.Sprint(n, " users"), func(t *testing.T) {
			us := users(t, 1)
			if n > 1 {
				us = bigUsers(t)
			}
			clk := newClock()
			r, err := sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			if s := r.Stats(); s.Users != n || s.Keys != n || s.Tables != 5 || s.Shed != 0 {
				t.Errorf("stats %+v", s)
			}
			for i := 0; i < n; i += max(1, n/200) {
				b := knockAt(t, sender(t, us[i], 0, gate), clk.Now(), uint16(i))
				m, err := r.Open(b, netip.Addr{}, clk.Now())
				if err != nil || m.User != us[i].Name || m.Port != base.Port {
					t.Fatalf("user %d: %+v, %v", i, m, err)
				}
				wrong := knockAt(t, sender(t, us[i], 0, "gate-b.example.net"), clk.Now(), uint16(i))
				if _, err := r.Open(wrong, netip.Addr{}, clk.Now()); !errors.Is(err, sealed.ErrAuth) {
					t.Fatalf("user %d for gate-b: %v, want ErrAuth", i, err)
				}
			}
		})
	}
}

// TestKeyringRollover: during a rollover both keys open, as the same
// user; once the old key is removed, its knocks fail and the new key's
// still open.
func TestKeyringRollover(t *testing.T) {
	clk := newClock()
	old, next := seededKey(t, "old"), seededKey(t, "new")
	dave := sealed.User{Name: "dave", Keys: []*sealed.Key{old, next}}
	us := append(users(t, 3), dave)
	r, err := sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	byOld := knockAt(t, sender(t, dave, 0, gate), clk.Now(), 1)
	byNew := knockAt(t, sender(t, dave, 1, gate), clk.Now(), 2)
	for _, b := range [][]byte{byOld, byNew} {
		if m, err := r.Open(b, netip.Addr{}, clk.Now()); err != nil || m.User != "dave" {
			t.Errorf("during the rollover: %+v, %v", m, err)
		}
	}
	us[3].Keys = []*sealed.Key{next}
	r, err = sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(byOld, netip.Addr{}, clk.Now()); !errors.Is(err, sealed.ErrAuth) {
		t.Errorf("the removed key: %v, want ErrAuth", err)
	}
	if m, err := r.Open(byNew, netip.Addr{}, clk.Now()); err != nil || m.User != "dave" {
		t.Errorf("the new key: %+v, %v", m, err)
	}
}

// TestKeyringRotation: for two hours, second by second, the daemon
// advances its keyring and a knock sealed now, or skewed by up to the
// window, opens; the hint stays within a bucket and changes across them.
func TestKeyringRotation(t *testing.T) {
	clk := newClock()
	us := users(t, 50)
	r, err := sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := sender(t, us[7], 0, gate)
	hints := map[string]int64{}
	for i := range 2 * 3600 {
		clk.Add(time.Second)
		r.Advance(clk.Now())
		if i%7 != 0 {
			continue
		}
		skew := time.Duration(i%121-60) * time.Second
		b := knockAt(t, s, clk.Now().Add(skew), uint16(i))
		if m, err := r.Open(b, netip.Addr{}, clk.Now()); err != nil || m.User != us[7].Name {
			t.Fatalf("at %v, skew %v: %+v, %v", clk.Now(), skew, m, err)
		}
		bucket := clk.Now().Add(skew).Unix() / 60
		if was, ok := hints[string(b[1:3])]; ok && was != bucket {
			t.Logf("hint %x in buckets %d and %d (chance: 2^-16 a pair)", b[1:3], was, bucket)
		}
		hints[string(b[1:3])] = bucket
	}
	if len(hints) < 100 {
		t.Errorf("%d distinct hints in 120 buckets", len(hints))
	}
	stale := knockAt(t, s, clk.Now().Add(-3*time.Minute), 1)
	if _, err := r.Open(stale, netip.Addr{}, clk.Now()); !errors.Is(err, sealed.ErrAuth) {
		t.Errorf("a knock of a bucket rotated out: %v, want ErrAuth", err)
	}
}

// TestKeyringWithoutAdvance: a daemon that never calls Advance still
// opens knocks as the clock moves (Open builds what is missing).
func TestKeyringWithoutAdvance(t *testing.T) {
	clk := newClock()
	us := users(t, 5)
	r, err := sealed.NewKeyring(sealed.KeyringConfig{Users: us}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		clk.Add(17 * time.Minute)
		b := knockAt(t, sender(t, us[2], 0, ""), clk.Now(), 3)
		if m, err := r.Open(b, netip.Addr{}, clk.Now()); err != nil || m.User != us[2].Name {
			t.Fatalf("at %v: %+v, %v", clk.Now(), m, err)
		}
	}
}

// TestKeyringV1: a keyring of one user opens version 1 with its key; one
// of several users only when the configuration names a version 1 user.
func TestKeyringV1(t *testing.T) {
	clk := newClock()
	us := users(t, 3)
	v1, err := sealed.SealNonce(us[1].Keys[0], base)
	if err != nil {
		t.Fatal(err)
	}
	one, _ := sealed.NewKeyring(sealed.KeyringConfig{Users: us[1:2]}, clk.Now())
	if m, err := one.Open(v1, netip.Addr{}, clk.Now()); err != nil || m.User != us[1].Name {
		t.Errorf("one user: %+v, %v", m, err)
	}
	many, _ := sealed.NewKeyring(sealed.KeyringConfig{Users: us}, clk.Now())
	if _, err := many.Open(v1, netip.Addr{}, clk.Now()); !errors.Is(err, sealed.ErrMalformed) {
		t.Errorf("three users, no version 1 user: %v, want ErrMalformed", err)
	}
	named, _ := sealed.NewKeyring(sealed.KeyringConfig{Users: us, V1User: us[1].Name}, clk.Now())
	if m, err := named.Open(v1, netip.Addr{}, clk.Now()); err != nil || m.User != us[1].Name {
		t.Errorf("named version 1 user: %+v, %v", m, err)
	}
	// And OpenFrom refuses version 2, which needs a keyring.
	b := knockAt(t, sender(t, us[0], 0, ""), clk.Now(), 1)
	if _, err := sealed.Open(us[0].Keys[0], b, clk.Now(), time.Minute); !errors.Is(err, sealed.ErrMalformed) {
		t.Errorf("version 2 through Open: %v, want ErrMalformed", err)
	}
}

func TestNewKeyringRefuses(t *testing.T) {
	k1, k2, k3 := seededKey(t, "1"), seededKey(t, "2"), seededKey(t, "3")
	u := func(name string, ks ...*sealed.Key) sealed.User { return sealed.User{Name: name, Keys: ks} }
	tests := []struct {
		name string
		cfg  sealed.KeyringConfig
		want string
	}{
		{"no users", sealed.KeyringConfig{}, "at least one user"},
		{"no name", sealed.KeyringConfig{Users: []sealed.User{u("", k1)}}, "user 1 has no name"},
		{"twice", sealed.KeyringConfig{Users: []sealed.User{u("a", k1), u("a", k2)}}, `user "a" is listed twice`},
		{"no key", sealed.KeyringConfig{Users: []sealed.User{u("a")}}, `user "a" has 0 keys`},
		{"three keys", sealed.KeyringConfig{Users: []sealed.User{u("a", k1, k2, k3)}}, `user "a" has 3 keys`},
		{"nil key", sealed.KeyringConfig{Users: []sealed.User{u("a", nil)}}, "empty key"},
		{"shared key", sealed.KeyringConfig{Users: []sealed.User{u("a", k1), u("b", k2, k1)}}, `users "a" and "b" hold the same key`},
		{"same key twice", sealed.KeyringConfig{Users: []sealed.User{u("a", k1, k1)}}, `users "a" and "a"`},
		{"control", sealed.KeyringConfig{Users: []sealed.User{u("a\n", k1)}}, "control character"},
		{"long server", sealed.KeyringConfig{Server: strings.Repeat("x", 256), Users: []sealed.User{u("a", k1)}}, "at most 255"},
		{"not utf-8", sealed.KeyringConfig{Server: "\xff", Users: []sealed.User{u("a", k1)}}, "not UTF-8"},
		{"window", sealed.KeyringConfig{Window: 6 * time.Minute, Users: []sealed.User{u("a", k1)}}, "outside 0 to 5m0s"},
		{"v1 user", sealed.KeyringConfig{V1User: "b", Users: []sealed.User{u("a", k1)}}, `version 1 user "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sealed.NewKeyring(tt.cfg, time.Unix(1767225600, 0))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			for _, k := range []*sealed.Key{k1, k2, k3} {
				if strings.Contains(err.Error(), sealed.FormatKey(k)[len(sealed.KeyPrefix):20]) {
					t.Errorf("the error quotes a key: %v", err)
				}
			}
		})
	}
}

func TestNewSenderRefuses(t *testing.T) {
	k := testKey(t)
	for _, tt := range []struct{ user, server, want string }{
		{"", gate, "needs a user name"},
		{"a\x00b", gate, "control character"},
		{"alice", strings.Repeat("g", 300), "at most 255"},
	} {
		if _, err := sealed.NewSender(tt.user, k, tt.server); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q at %q: %v, want %q", tt.user, tt.server, err, tt.want)
		}
	}
	if _, err := sealed.NewSender("alice", nil, gate); err == nil {
		t.Error("a nil key is accepted")
	}
}

// TestKeyringConcurrent: Open from several goroutines while the daemon's
// ticker advances the clock (run with -race).
func TestKeyringConcurrent(t *testing.T) {
	start := time.Unix(1767225600, 0)
	us := users(t, 20)
	r, err := sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, start)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			s := sender(t, us[g], 0, gate)
			for i := range 300 {
				now := start.Add(time.Duration(i) * time.Second)
				if i%2 == 0 {
					r.Advance(now)
				}
				b := knockAt(t, s, now, uint16(i))
				if m, err := r.Open(b, netip.Addr{}, now); err != nil || m.User != us[g].Name {
					t.Errorf("goroutine %d, second %d: %+v, %v", g, i, m, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
