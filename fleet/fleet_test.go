package fleet

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portknock/knock"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// aclConf makes Redis refuse the default user: gates log in as "gate".
var aclConf = []string{"user default off", "user gate on >gate-secret ~* &* +@all"}

// leastACL is the least a gate of fleet "test" needs (docs/fleet.md):
// its own keys and the commands the package sends.
var leastACL = []string{"user default off", "user gate on >gate-secret resetkeys ~test:* resetchannels -@all " +
	"+hello +auth +ping +client|setname +set +get +wait +multi +exec +zadd +zrem +zrangebyscore " +
	"+zremrangebyscore +pexpire +xadd +xread +xrevrange"}

// gate is one fleet client with its own fake firewall, running Run.
type gate struct {
	*Fleet
	fw   *fakeFirewall
	stop func()
	logs *lockedBuffer
}

// startGate makes a gate with credentials read from a 0600 file, as a
// daemon would, and runs it until the test ends.
func startGate(t *testing.T, url, name string, mode Mode, edit ...func(*Config)) *gate {
	t.Helper()
	cred := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(cred, []byte("# fleet login\nuser gate\npassword gate-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := ReadCredentials(cred)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	cfg := Config{URL: url, Fleet: "test", Gate: name, Group: "edge", Credentials: creds,
		Key: testKey, OnFailure: mode, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, e := range edit {
		e(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{Fleet: f, fw: newFakeFirewall(), logs: logs}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx, g.fw) }()
	var once sync.Once
	g.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			f.Close()
		})
	}
	t.Cleanup(g.stop)
	return g
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func knockID(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func mustClaim(t *testing.T, g *gate, id [32]byte, until time.Time) bool {
	t.Helper()
	fresh, err := g.Claim(ctxT(t, 5*time.Second), id, until)
	if err != nil {
		t.Fatalf("gate %s: claim: %v", g.cfg.Gate, err)
	}
	return fresh
}

func waitOpen(t *testing.T, g *gate, k string) time.Duration {
	t.Helper()
	var d time.Duration
	waitFor(t, 10*time.Second, "gate "+g.cfg.Gate+" opens "+k, func() bool {
		var ok bool
		d, ok = g.fw.has(k)
		return ok
	})
	return d
}

func waitClosed(t *testing.T, g *gate, k string) {
	t.Helper()
	waitFor(t, 10*time.Second, "gate "+g.cfg.Gate+" closes "+k, func() bool {
		_, ok := g.fw.has(k)
		return !ok
	})
}

func TestThreeGates(t *testing.T) {
	srv := startRedis(t, "127.0.0.1", leastACL...)
	url := "redis://" + srv.addr() + "/0"
	a := startGate(t, url, "a", Refuse)
	b := startGate(t, url, "b", Refuse)
	c := startGate(t, url, "c", Refuse)
	gates := []*gate{a, b, c}
	until := time.Now().Add(time.Minute)

	t.Run("claim at one gate is refused at the others", func(t *testing.T) {
		id := knockID("one knock")
		if !mustClaim(t, a, id, until) {
			t.Fatal("gate a: first claim not fresh")
		}
		for _, g := range gates {
			if mustClaim(t, g, id, until) {
				t.Errorf("gate %s: replayed knock claimed fresh", g.cfg.Gate)
			}
		}
	})

	t.Run("racing claimants: exactly one wins", func(t *testing.T) {
		for i := range 20 {
			id := knockID(fmt.Sprint("race ", i))
			var wg sync.WaitGroup
			wins := make([]bool, len(gates))
			for j, g := range gates {
				wg.Go(func() { wins[j] = mustClaim(t, g, id, until) })
			}
			wg.Wait()
			n := 0
			for _, w := range wins {
				if w {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("knock %d: %d gates claimed it fresh, want 1", i, n)
			}
		}
	})

	alice := Grant{User: "alice", Addr: netip.MustParseAddr("192.0.2.7"), Proto: knock.TCP, Port: 22, Until: time.Now().Add(40 * time.Second)}
	bob := Grant{User: "bob", Addr: netip.MustParseAddr("2001:db8::b0b"), Proto: knock.UDP, Port: 51820, Until: time.Now().Add(40 * time.Second)}
	kAlice, kBob := fwKey("192.0.2.7", "tcp", 22), fwKey("2001:db8::b0b", "udp", 51820)

	t.Run("grant reaches the other gates with the time left", func(t *testing.T) {
		if err := a.Publish(ctxT(t, 5*time.Second), alice); err != nil {
			t.Fatal(err)
		}
		for _, g := range []*gate{b, c} {
			d := waitOpen(t, g, kAlice)
			if d <= 0 || d > 40*time.Second {
				t.Errorf("gate %s: opened for %s, want the time left (0, 40s]", g.cfg.Gate, d)
			}
		}
		if _, ok := a.fw.has(kAlice); ok {
			t.Error("gate a opened its own grant again: the engine already did")
		}
		if err := b.Publish(ctxT(t, 5*time.Second), bob); err != nil {
			t.Fatal(err)
		}
		waitOpen(t, a, kBob)
		waitOpen(t, c, kBob)
	})

	d := startGate(t, url, "d", Refuse) // started later, and kept to the end
	t.Run("a gate started later applies the live grants", func(t *testing.T) {
		waitOpen(t, d, kAlice)
		waitOpen(t, d, kBob)
		gates = append(gates, d)
		list, err := d.List(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, g := range list {
			got[g.User] = g.Gate
		}
		if len(list) != 2 || got["alice"] != "a" || got["bob"] != "b" {
			t.Errorf("List = %+v, want alice from a and bob from b", list)
		}
	})

	t.Run("revoke by user and by address reaches every gate", func(t *testing.T) {
		n, err := c.Revoke(ctxT(t, 5*time.Second), Selector{User: "alice"})
		if err != nil || n != 1 {
			t.Fatalf("Revoke(alice) = %d, %v; want 1, nil", n, err)
		}
		for _, g := range gates[1:] {
			waitClosed(t, g, kAlice)
		}
		// Gate a never opened alice through Run: the engine did; it
		// closes it all the same, as the issuer.
		waitFor(t, 10*time.Second, "gate a closes its own revoked grant", func() bool {
			a.fw.mu.Lock()
			defer a.fw.mu.Unlock()
			return strings.Contains(strings.Join(a.fw.closed, ","), kAlice)
		})
		n, err = a.Revoke(ctxT(t, 5*time.Second), Selector{Addr: netip.MustParseAddr("2001:db8::b0b")})
		if err != nil || n != 1 {
			t.Fatalf("Revoke(addr) = %d, %v; want 1, nil", n, err)
		}
		for _, g := range gates {
			if g != b {
				waitClosed(t, g, kBob)
			}
		}
		list, err := b.List(ctxT(t, 5*time.Second))
		if err != nil || len(list) != 0 {
			t.Errorf("List after revoking = %+v, %v; want none", list, err)
		}
		e := startGate(t, url, "e", Refuse)
		waitFor(t, 10*time.Second, "gate e synced", func() bool { return e.Stats().Applied == 0 && !e.Down() && e.synced() })
		if e.fw.count() != 0 {
			t.Errorf("gate e started after the revocations opened %v", e.fw.open)
		}
	})
}

// synced reports whether Run has read the live sets once.
func (g *gate) synced() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.syncs > 0
}

func TestRedisRestart(t *testing.T) {
	srv := startRedis(t, "127.0.0.1", aclConf...)
	url := "redis://" + srv.addr()
	short := func(c *Config) {}
	r := startGate(t, url, "r", Refuse, short)
	l1 := startGate(t, url, "l1", Local, short)
	l2 := startGate(t, url, "l2", Local, short)
	for _, g := range []*gate{r, l1, l2} {
		waitFor(t, 10*time.Second, "gate synced", g.synced)
	}
	until := time.Now().Add(time.Minute)
	before := knockID("claimed before the outage")
	if !mustClaim(t, l1, before, until) {
		t.Fatal("claim before the outage not fresh")
	}

	srv.kill()
	for _, g := range []*gate{r, l1, l2} {
		waitFor(t, 10*time.Second, "gate "+g.cfg.Gate+" notices redis is gone", g.Down)
	}

	t.Run("refuse: claims error", func(t *testing.T) {
		_, err := r.Claim(ctxT(t, time.Second), knockID("during"), until)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("claim with redis down: %v, want ErrUnavailable", err)
		}
	})
	during := knockID("claimed at two gates during the outage")
	alone := knockID("claimed at one gate during the outage")
	t.Run("local: decided alone, counted, logged once", func(t *testing.T) {
		if !mustClaim(t, l1, during, until) || mustClaim(t, l1, during, until) {
			t.Fatal("gate l1: local claim not fresh once then refused")
		}
		if !mustClaim(t, l2, during, until) {
			t.Fatal("gate l2 cannot see l1: its claim is fresh too (the partition's price)")
		}
		if !mustClaim(t, l2, alone, until) {
			t.Fatal("gate l2: local claim not fresh")
		}
		if mustClaim(t, l1, before, until) {
			t.Error("gate l1 forgot a claim it made through redis")
		}
		if s := l1.Stats(); s.Local != 1 || s.Outages != 1 {
			t.Errorf("gate l1: Local %d Outages %d, want 1 and 1", s.Local, s.Outages)
		}
		if n := strings.Count(l1.logs.String(), "deciding claims alone"); n != 1 {
			t.Errorf("gate l1 logged the outage %d times, want once:\n%s", n, l1.logs)
		}
	})
	grant := Grant{User: "carol", Addr: netip.MustParseAddr("198.51.100.9"), Proto: knock.TCP, Port: 443, Until: time.Now().Add(time.Minute)}
	if err := l2.Publish(ctxT(t, time.Second), grant); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("publish with redis down: %v, want ErrUnavailable", err)
	}

	srv.start()
	t.Run("gates reconnect and converge", func(t *testing.T) {
		for _, g := range []*gate{r, l1, l2} {
			waitFor(t, 20*time.Second, "gate "+g.cfg.Gate+" back on redis", func() bool { return !g.Down() })
		}
		for _, id := range [][32]byte{before, during, alone} {
			if mustClaim(t, r, id, until) {
				t.Errorf("claim %x: fresh at gate r after the outage: not reconciled", id[:4])
			}
		}
		if c := l1.Stats().Conflicts + l2.Stats().Conflicts; c != 1 {
			t.Errorf("conflicts counted: %d, want 1 (the knock both local gates granted)", c)
		}
		k := fwKey("198.51.100.9", "tcp", 443)
		waitOpen(t, r, k)
		waitOpen(t, l1, k)
		if !strings.Contains(l1.logs.String(), "redis reachable again") {
			t.Errorf("gate l1 did not log the recovery:\n%s", l1.logs)
		}
	})
}

func TestForgedGrantsOpenNothing(t *testing.T) {
	srv := startRedis(t, "127.0.0.1", aclConf...)
	url := "redis://" + srv.addr()
	a := startGate(t, url, "a", Refuse)
	b := startGate(t, url, "b", Refuse)
	waitFor(t, 10*time.Second, "gate b synced", b.synced)
	admin := srv.admin("gate", "gate-secret")
	ctx := ctxT(t, 10*time.Second)
	now := time.Now()
	base := message{kind: kindGrant, issued: now, until: now.Add(time.Minute), addr: netip.MustParseAddr("203.0.113.66"),
		proto: knock.TCP, port: 22, fleet: "test", group: "edge", gate: "mallory", user: "mallory"}
	sealWith := func(key []byte, m message) string {
		b, err := seal(key, m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	stale, foreign := base, base
	stale.issued, stale.until = now.Add(-2*time.Hour), now.Add(-time.Hour)
	foreign.group = "other"
	signed := sealWith(testKey, base)
	bad := map[string]string{
		"garbage":  "open sesame",
		"forged":   sealWith([]byte("not the fleet key, not the fleet"), base),
		"tampered": signed[:len(signed)-40] + "X" + signed[len(signed)-39:],
		"unsigned": signed[:len(signed)-32],
		"stale":    sealWith(testKey, stale),
		"foreign":  sealWith(testKey, foreign),
		"future":   sealWith(testKey, func() message { m := base; m.issued = now.Add(time.Hour); m.until = now.Add(2 * time.Hour); return m }()),
		"too long": sealWith(testKey, func() message { m := base; m.until = now.Add(48 * time.Hour); return m }()),
	}
	for _, v := range bad {
		if err := admin.XAdd(ctx, &redisXAdd{Stream: b.keyEvents, Values: []any{"m", v}}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := admin.ZAdd(ctx, b.keyGrants, redisZ{Score: float64(now.Add(time.Hour).UnixMilli()), Member: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A genuine grant after the forgeries marks when they have been read.
	marker := Grant{Addr: netip.MustParseAddr("192.0.2.1"), Proto: knock.TCP, Port: 80, Until: now.Add(time.Minute)}
	if err := a.Publish(ctx, marker); err != nil {
		t.Fatal(err)
	}
	late := startGate(t, url, "late", Refuse)
	for _, g := range []*gate{b, late} {
		waitOpen(t, g, fwKey("192.0.2.1", "tcp", 80))
		if n := g.fw.count(); n != 1 {
			t.Errorf("gate %s opened %d grants, want only the genuine one: %v", g.cfg.Gate, n, g.fw.open)
		}
		s := g.Stats()
		if s.Malformed < 2 || s.Forged < 2 || s.Stale < 3 || s.Foreign < 1 {
			t.Errorf("gate %s counted malformed %d forged %d stale %d foreign %d; want at least 2, 2, 3, 1",
				g.cfg.Gate, s.Malformed, s.Forged, s.Stale, s.Foreign)
		}
	}
	if list, err := b.List(ctx); err != nil || len(list) != 1 {
		t.Errorf("List = %+v, %v; want only the genuine grant", list, err)
	}
}

// TestRedisLosesEverything restarts Redis without its data (no
// persistence): the issuing gate puts its live grants back, so a gate that
// starts afterwards still opens them.
func TestRedisLosesEverything(t *testing.T) {
	srv := startRedis(t, "127.0.0.1", append(aclConf, "appendonly no")...)
	url := "redis://" + srv.addr()
	a := startGate(t, url, "a", Refuse)
	waitFor(t, 10*time.Second, "gate a synced", a.synced)
	g := Grant{User: "dora", Addr: netip.MustParseAddr("192.0.2.44"), Proto: knock.TCP, Port: 22, Until: time.Now().Add(time.Minute)}
	if err := a.Publish(ctxT(t, 5*time.Second), g); err != nil {
		t.Fatal(err)
	}
	srv.kill()
	waitFor(t, 10*time.Second, "gate a notices", a.Down)
	srv.start()
	waitFor(t, 20*time.Second, "gate a back", func() bool { return !a.Down() })
	late := startGate(t, url, "late", Refuse)
	waitOpen(t, late, fwKey("192.0.2.44", "tcp", 22))
}
