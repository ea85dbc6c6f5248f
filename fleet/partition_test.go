package fleet

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
)

// TestPartition runs Redis in one namespace and gate c in another,
// reaching it over veth; gate a sits beside Redis. The veth link goes
// down and up again: c decides alone meanwhile (mode local), and after the
// link returns every claim, grant and revocation made on either side is
// known on both.
func TestPartition(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	p := netnstest.NewPair(t)
	srv := startRedisIn(t, p.Host, p.HostV4.String(), 6379, aclConf...)
	url := "redis://" + srv.addr()
	from := func(ns *netnstest.NS) func(*Config) {
		return func(c *Config) {
			c.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
				return dialIn(ns, ctx, network, addr)
			}
		}
	}
	a := startGate(t, url, "a", Local, from(p.Host))
	c := startGate(t, url, "c", Local, from(p.Client))
	waitFor(t, 10*time.Second, "gates synced", func() bool { return a.synced() && c.synced() })
	until := time.Now().Add(time.Minute)
	ctx := ctxT(t, 30*time.Second)

	old := Grant{User: "olga", Addr: netip.MustParseAddr("192.0.2.10"), Proto: knock.TCP, Port: 22, Until: until}
	if err := a.Publish(ctx, old); err != nil {
		t.Fatal(err)
	}
	kOld := fwKey("192.0.2.10", "tcp", 22)
	waitOpen(t, c, kOld)

	p.Client.MustRun("ip", "link", "set", "eth0", "down")
	both, onlyC := knockID("claimed on both sides"), knockID("claimed at c alone")
	// c finds out on its first claim (its deadline ends it) or when its
	// stream read times out; either way it then decides alone.
	waitFor(t, 20*time.Second, "gate c decides alone", func() bool {
		fresh, err := c.Claim(ctxT(t, 500*time.Millisecond), both, until)
		return err == nil && fresh && c.Down()
	})
	if !mustClaim(t, c, onlyC, until) {
		t.Fatal("gate c: local claim not fresh")
	}
	if !mustClaim(t, a, both, until) {
		t.Fatal("gate a: its claim is fresh: it cannot see c's")
	}
	if _, err := a.Revoke(ctx, Selector{User: "olga"}); err != nil {
		t.Fatal(err)
	}
	newA := Grant{User: "ann", Addr: netip.MustParseAddr("192.0.2.11"), Proto: knock.TCP, Port: 22, Until: until}
	newC := Grant{User: "cid", Addr: netip.MustParseAddr("192.0.2.12"), Proto: knock.TCP, Port: 22, Until: until}
	if err := a.Publish(ctx, newA); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctxT(t, time.Second), newC); err == nil {
		t.Fatal("gate c published with its link down")
	}
	if _, ok := c.fw.has(kOld); !ok {
		t.Fatal("gate c closed olga's grant while it could not hear the revocation")
	}

	p.Client.MustRun("ip", "link", "set", "eth0", "up")
	waitFor(t, 30*time.Second, "gate c back on redis", func() bool { return !c.Down() })
	waitClosed(t, c, kOld)
	waitOpen(t, c, fwKey("192.0.2.11", "tcp", 22))
	waitOpen(t, a, fwKey("192.0.2.12", "tcp", 22))
	if mustClaim(t, a, onlyC, until) {
		t.Error("a claim c made alone is fresh at a after the partition: not reconciled")
	}
	if s := c.Stats(); s.Conflicts != 1 || s.Local < 2 {
		t.Errorf("gate c: Conflicts %d Local %d, want 1 and at least 2", s.Conflicts, s.Local)
	}
	list, err := c.List(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("List after the partition = %+v, %v; want ann's and cid's grants", list, err)
	}
}
