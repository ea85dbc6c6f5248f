package iptables

import (
	"context"
	"testing"
	"time"

	"github.com/portknock/knock"
)

// TestSetupTwiceKeepsGrants: a restarted daemon's Setup keeps the grants of
// the one before, and they still let the client in.
func TestSetupTwiceKeepsGrants(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clock, _ := fixed()
	b := e.backend(t, clock)
	mustSetup(t, b)
	for _, f := range e.families() {
		if err := b.Open(ctx, grant(f.client, 15*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	b = e.backend(t, clock)
	mustSetup(t, b)
	mustSetup(t, b)
	for _, f := range e.families() {
		golden(t, "setup-twice."+f.name+".golden", e.ruleset(t, f.binary))
		if !e.reachable(t, f.client, f.host) {
			t.Errorf("%s: grant lost across Setup", f.name)
		}
	}
	if gs, err := b.Grants(ctx); err != nil || len(gs) != 2 {
		t.Fatalf("Grants = %+v, %v; want both", gs, err)
	}
}

// TestSetupRepairs: Setup moves the jump back to the top of INPUT when
// another tool inserted rules above it, and rebuilds the guard when the
// protected ports change, keeping grants.
func TestSetupRepairs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clock, _ := fixed()
	b := e.backend(t, clock)
	mustSetup(t, b)
	if err := b.Open(ctx, grant(e.ClientV4, 15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.Host.MustRun("iptables", "-I", "INPUT", "1", "-p", "icmp", "-j", "ACCEPT")
	mustSetup(t, b)
	golden(t, "moved-once.v4.golden", e.ruleset(t, "iptables"))
	e.Host.MustRun("iptables", "-I", "INPUT", "1", "-p", "icmp", "-j", "ACCEPT")
	mustSetup(t, b)
	golden(t, "moved-twice.v4.golden", e.ruleset(t, "iptables"))

	b = e.backend(t, clock, knock.Port{Proto: knock.TCP, Port: 22}, knock.Port{Proto: knock.UDP, Port: 1194})
	mustSetup(t, b)
	golden(t, "ports-changed.v4.golden", e.ruleset(t, "iptables"))
	golden(t, "ports-changed.v6.golden", e.ruleset(t, "ip6tables"))
}

// TestUninstall: Uninstall leaves the tables as they were before Setup,
// grants and all, and port 22 is governed by the rest of INPUT again.
func TestUninstall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.backend(t, time.Now)
	before := map[string]string{}
	for _, f := range e.families() {
		before[f.name] = e.ruleset(t, f.binary)
	}
	mustSetup(t, b)
	for _, f := range e.families() {
		golden(t, "setup."+f.name+".golden", e.ruleset(t, f.binary))
		if err := b.Open(ctx, grant(f.client, time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := b.Uninstall(ctx); err != nil {
			t.Fatalf("Uninstall #%d: %v", i+1, err)
		}
	}
	for _, f := range e.families() {
		got := e.ruleset(t, f.binary)
		golden(t, "uninstalled."+f.name+".golden", got)
		if got != before[f.name] {
			t.Errorf("%s after Uninstall:\n%s\nbefore Setup:\n%s", f.binary, got, before[f.name])
		}
		if !e.reachable(t, f.other, f.host) {
			t.Errorf("%s: port 22 still guarded after Uninstall", f.name)
		}
	}
}
