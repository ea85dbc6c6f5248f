package iptables

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/internal/testenv"
)

// TestAccess: port 22 is closed until Open, open to the granted address
// only, and closed again by Close.
func TestAccess(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.backend(t, time.Now)
	mustSetup(t, b)
	for _, f := range e.families() {
		t.Run(f.name, func(t *testing.T) {
			if e.reachable(t, f.client, f.host) {
				t.Fatal("port 22 reachable before Open")
			}
			if err := b.Open(ctx, grant(f.client, time.Hour)); err != nil {
				t.Fatal(err)
			}
			if !e.reachable(t, f.client, f.host) {
				t.Fatal("port 22 not reachable after Open")
			}
			if e.reachable(t, f.other, f.host) {
				t.Fatalf("port 22 reachable from %s, which was not granted", f.other)
			}
			gs, err := b.Grants(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(gs) != 1 || gs[0].Addr != f.client || gs[0].Duration > time.Hour || gs[0].Duration < 58*time.Minute {
				t.Fatalf("Grants = %+v, want only %s for about an hour", gs, f.client)
			}
			if err := b.Close(ctx, grant(f.client, 0)); err != nil {
				t.Fatal(err)
			}
			if e.reachable(t, f.client, f.host) {
				t.Fatal("port 22 reachable after Close")
			}
			if gs, err := b.Grants(ctx); err != nil || len(gs) != 0 {
				t.Fatalf("Grants after Close = %+v, %v; want none", gs, err)
			}
			if err := b.Close(ctx, grant(f.client, 0)); err != nil {
				t.Fatalf("closing what is closed: %v", err)
			}
		})
	}
}

// TestExpiresWithoutDaemon: a grant ends by the kernel's time match alone,
// with the backend gone and no sweep, and an established session survives
// the end of its grant.
func TestExpiresWithoutDaemon(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, f := range e.families() {
		t.Run(f.name, func(t *testing.T) {
			b := e.backend(t, time.Now)
			mustSetup(t, b)
			if err := b.Open(ctx, grant(f.client, 2*time.Second)); err != nil {
				t.Fatal(err)
			}
			conn, err := e.dial(f.client, f.host)
			if err != nil {
				t.Fatalf("dial within the grant: %v", err)
			}
			defer conn.Close()
			b = nil // the daemon is gone: nothing will sweep

			deadline := time.Now().Add(10 * time.Second)
			for e.reachable(t, f.client, f.host) {
				if time.Now().After(deadline) {
					t.Fatal("port 22 still reachable 10 s after a 2 s grant")
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err := talk(conn); err != nil {
				t.Fatalf("established session cut at the end of its grant: %v", err)
			}
			if rules := e.ruleset(t, f.binary); !strings.Contains(rules, grantTag) {
				t.Fatalf("the grant rule is gone, so something other than the time match closed it:\n%s", rules)
			}
			n, err := e.backend(t, time.Now).Sweep(ctx)
			if err != nil || n != 1 {
				t.Fatalf("Sweep = %d, %v; want 1 expired rule deleted", n, err)
			}
			if rules := e.ruleset(t, f.binary); strings.Contains(rules, grantTag) {
				t.Fatalf("Sweep left the grant:\n%s", rules)
			}
		})
	}
}

// TestRefreshAndSweep: opening again replaces the rule with a later stop,
// Grants reports the time left, and Sweep removes only what has ended.
func TestRefreshAndSweep(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clock, now := fixed()
	b := e.backend(t, clock)
	mustSetup(t, b)
	v4, v6 := e.ClientV4, e.ClientV6
	for _, g := range []firewall.Grant{grant(v4, 15*time.Minute), grant(v6, 10*time.Minute)} {
		if err := b.Open(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	*now = now.Add(5 * time.Minute)
	if err := b.Open(ctx, grant(v4, 30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := b.Open(ctx, grant(v4, 30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	golden(t, "refresh.v4.golden", e.ruleset(t, "iptables"))
	gs, err := b.Grants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The clock is on a whole second, so grants end exactly on time.
	if len(gs) != 2 || gs[0].Addr != v4 || gs[0].Duration != 30*time.Minute ||
		gs[1].Addr != v6 || gs[1].Duration != 5*time.Minute {
		t.Fatalf("Grants = %+v, want %s for 30m and %s for 5m", gs, v4, v6)
	}
	*now = now.Add(5 * time.Minute)
	if n, err := b.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the IPv6 grant deleted", n, err)
	}
	if gs, err := b.Grants(ctx); err != nil || len(gs) != 1 || gs[0].Addr != v4 {
		t.Fatalf("Grants after Sweep = %+v, %v; want only %s", gs, err, v4)
	}
}

// TestLegacy runs the round trip with the legacy (x_tables) binaries: the
// same rules, printed the same way (the same golden files).
func TestLegacy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{"iptables-legacy", "ip6tables-legacy"} {
		if _, err := exec.LookPath(name); err != nil {
			testenv.Missing(t, name, err, "apt-get install iptables")
		}
	}
	b := e.backendWith(t, Config{Protected: []knock.Port{{Proto: knock.TCP, Port: 22}},
		IPTables: "iptables-legacy", IP6Tables: "ip6tables-legacy"})
	mustSetup(t, b)
	mustSetup(t, b)
	for _, f := range e.families() {
		golden(t, "setup."+f.name+".golden", e.ruleset(t, f.binary+"-legacy"))
		if e.reachable(t, f.client, f.host) {
			t.Fatalf("%s: port 22 reachable before Open", f.name)
		}
		if err := b.Open(ctx, grant(f.client, time.Hour)); err != nil {
			t.Fatal(err)
		}
		if !e.reachable(t, f.client, f.host) || e.reachable(t, f.other, f.host) {
			t.Fatalf("%s: after Open, want %s let in and %s not", f.name, f.client, f.other)
		}
	}
	if gs, err := b.Grants(ctx); err != nil || len(gs) != 2 {
		t.Fatalf("Grants = %+v, %v; want two", gs, err)
	}
	if err := b.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range e.families() {
		golden(t, "uninstalled."+f.name+".golden", e.ruleset(t, f.binary+"-legacy"))
	}
}
