package nft_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/nft"
	"github.com/portknock/knock/internal/netnstest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the kernel's listing")

var goldenPorts = []knock.Port{{Proto: knock.TCP, Port: 22}, {Proto: knock.UDP, Port: 51820}, {Proto: knock.TCP, Port: 2222}}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestGoldenOwnTable installs the own table in a fresh namespace, grants
// one address per family, and compares the kernel's listing.
func TestGoldenOwnTable(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "golden")
	b := setUp(t, ns, nft.Config{Protected: goldenPorts})
	ctx := context.Background()
	for _, g := range []firewall.Grant{grant("192.0.2.7", 22, time.Hour), grant("2001:db8::7", 2222, 30*time.Minute)} {
		if err := b.Open(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "own-table.golden", ruleset(t, ns))
}

// TestGoldenExistingTable loads an administrator's default-drop ruleset,
// lets the daemon check it and grant, and compares the kernel's listing.
func TestGoldenExistingTable(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "golden")
	load(t, ns, readFile(t, "admin-filter.nft"))
	b := setUp(t, ns, nft.Config{Mode: nft.ExistingTable, Table: "filter", Protected: goldenPorts})
	ctx := context.Background()
	for _, g := range []firewall.Grant{grant("192.0.2.7", 22, time.Hour), grant("2001:db8::7", 2222, 30*time.Minute)} {
		if err := b.Open(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	golden(t, "existing-table.golden", ruleset(t, ns))
}

// What Ruleset prints is what Setup installs: the listing of a fresh
// install equals the rendering, and the rendering loads with nft -f into
// an empty namespace to the same listing.
func TestRulesetIsInstalled(t *testing.T) {
	needKernel(t)
	t.Parallel()
	installed := netnstest.New(t, "render")
	b := setUp(t, installed, nft.Config{Protected: goldenPorts})
	if got, want := ruleset(t, installed), normalize(b.Ruleset()); got != want {
		t.Errorf("Setup installed:\n%s\nRuleset says:\n%s", got, want)
	}
	loaded := netnstest.New(t, "render")
	load(t, loaded, b.Ruleset())
	if got, want := ruleset(t, loaded), ruleset(t, installed); got != want {
		t.Errorf("nft -f of Ruleset gives:\n%s\nSetup gives:\n%s", got, want)
	}
	// The existing-table snippet loads too, and gives the sets the daemon
	// accepts once a rule uses them.
	admin := netnstest.New(t, "render")
	e := newBackend(t, admin, nft.Config{Mode: nft.ExistingTable, Table: "filter", Protected: ssh})
	load(t, admin, e.Ruleset())
	load(t, admin, "add chain inet filter input { type filter hook input priority filter; policy drop; }")
	for _, line := range e.AdminRules() {
		load(t, admin, "add rule inet filter input "+line)
	}
	if err := e.Setup(context.Background()); err != nil {
		t.Fatalf("Setup over the rendered snippet: %v", err)
	}
}
