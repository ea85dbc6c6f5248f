package nft_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/nft"
	"github.com/portknock/knock/internal/netnstest"
)

// The kernel removes an element when its timeout is up, with nobody
// asking; Grants reports the time left meanwhile.
func TestElementExpiresByItself(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "expire")
	b := setUp(t, ns, nft.Config{Protected: ssh})
	for _, addr := range []string{"192.0.2.1", "2001:db8::1"} {
		if err := b.Open(context.Background(), grant(addr, 22, time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	got := grants(t, b)
	for _, key := range []string{"192.0.2.1 tcp/22", "2001:db8::1 tcp/22"} {
		if left, ok := got[key]; !ok || left <= 0 || left > time.Second+jiffy {
			t.Errorf("grant %s: time left %v (listed %v), want in (0, 1s]", key, left, ok)
		}
	}
	eventually(t, "grants gone", 10*time.Second, func() bool { return len(grants(t, b)) == 0 })
	if list := ns.MustRun("nft", "list", "set", "inet", "portknock", "allowed4"); strings.Contains(list, "192.0.2.1") {
		t.Errorf("nft still lists the expired grant:\n%s", list)
	}
}

// Opening again gives the element the new duration, longer or shorter,
// both by a plain add (where Setup found the kernel to refresh that way)
// and by the add, delete, add batch older kernels need.
func TestOpenTwiceRefreshes(t *testing.T) {
	needKernel(t)
	t.Parallel()
	for _, portable := range []bool{false, true} {
		t.Run(map[bool]string{false: "as-probed", true: "portable"}[portable], func(t *testing.T) {
			t.Parallel()
			ns := netnstest.New(t, "refresh")
			b := setUp(t, ns, nft.Config{Protected: ssh})
			t.Logf("this kernel refreshes on add: %v", nft.AddRefreshes(b))
			if portable {
				nft.UsePortableRefresh(b)
			}
			refreshes(t, b)
		})
	}
}

func refreshes(t *testing.T, b *nft.Backend) {
	const key = "192.0.2.1 tcp/22"
	open := func(d time.Duration) time.Duration {
		t.Helper()
		if err := b.Open(context.Background(), grant("192.0.2.1", 22, d)); err != nil {
			t.Fatal(err)
		}
		gs := grants(t, b)
		if len(gs) != 1 {
			t.Fatalf("grants %v, want only %s", gs, key)
		}
		return gs[key]
	}
	open(2 * time.Second)
	eventually(t, "time left under 1.5s", 10*time.Second, func() bool { return grants(t, b)[key] < 1500*time.Millisecond })
	if left := open(2 * time.Second); left <= 1500*time.Millisecond {
		t.Errorf("same duration again: %v left, want it back near 2s", left)
	}
	if left := open(time.Hour); left <= 59*time.Minute {
		t.Errorf("longer duration: %v left, want near 1h", left)
	}
	if left := open(3 * time.Second); left > 3*time.Second+jiffy {
		t.Errorf("shorter duration: %v left, want at most 3s", left)
	}
}

func TestCloseRemoves(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "close")
	b := setUp(t, ns, nft.Config{Protected: ssh})
	ctx := context.Background()
	for _, addr := range []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"} {
		if err := b.Open(ctx, grant(addr, 22, time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for _, addr := range []string{"192.0.2.1", "2001:db8::1"} {
		if err := b.Close(ctx, grant(addr, 22, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if got := grants(t, b); len(got) != 1 || got["192.0.2.2 tcp/22"] == 0 {
		t.Errorf("after closing two of three: %v", got)
	}
	// Closing what is not open is not an error.
	if err := b.Close(ctx, grant("192.0.2.1", 22, 0)); err != nil {
		t.Errorf("closing a closed grant: %v", err)
	}
}

// A restart runs Setup again: grants survive it, the protected list is
// updated in place, and grants for a port no longer protected go.
func TestSetupTwiceKeepsGrants(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "again")
	two := append([]knock.Port{{Proto: knock.UDP, Port: 51820}}, ssh...)
	b := setUp(t, ns, nft.Config{Protected: two})
	ctx := context.Background()
	if err := b.Open(ctx, grant("192.0.2.1", 22, time.Hour)); err != nil {
		t.Fatal(err)
	}
	wg := firewall.Grant{Addr: grant("2001:db8::1", 0, 0).Addr, Proto: knock.UDP, Port: 51820, Duration: time.Hour}
	if err := b.Open(ctx, wg); err != nil {
		t.Fatal(err)
	}
	setUp(t, ns, nft.Config{Protected: two})
	if got := grants(t, b); len(got) != 2 {
		t.Errorf("after a second Setup: %v, want both grants", got)
	}
	again := setUp(t, ns, nft.Config{Protected: ssh})
	if got := grants(t, again); len(got) != 1 || got["192.0.2.1 tcp/22"] < 59*time.Minute {
		t.Errorf("after Setup without udp/51820: %v, want only 192.0.2.1 tcp/22, untouched", got)
	}
	if list := ruleset(t, ns); strings.Contains(list, "51820") {
		t.Errorf("udp/51820 still in the ruleset:\n%s", list)
	}
}

// Stopping the daemon drops the backend and nothing else: the guard stays.
// Only Uninstall removes the table, and doing it twice is fine.
func TestUninstall(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "uninstall")
	setUp(t, ns, nft.Config{Protected: ssh}) // the daemon stops: its backend is dropped
	if !strings.Contains(ruleset(t, ns), "table inet portknock") {
		t.Fatal("the guard went away with the backend")
	}
	b := newBackend(t, ns, nft.Config{Protected: ssh})
	for range 2 {
		if err := b.Uninstall(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if list := strings.TrimSpace(ruleset(t, ns)); list != "" {
		t.Errorf("ruleset after Uninstall:\n%s", list)
	}
}

// A set of the right name and the wrong kind is refused with what was
// expected, in both modes.
func TestWrongSetRefused(t *testing.T) {
	needKernel(t)
	t.Parallel()
	for _, tc := range []struct {
		file string
		want error
		says string
	}{
		{"wrong-type.nft", nft.ErrSetType, `set portknock4 in table inet filter is "type ipv4_addr . inet_service; flags timeout", want "type ipv4_addr . inet_proto . inet_service; flags timeout"`},
		{"no-timeout.nft", nft.ErrSetType, `is "type ipv6_addr . inet_proto . inet_service", want "type ipv6_addr . inet_proto . inet_service; flags timeout"`},
		{"unreferenced.nft", nft.ErrNotReferenced, "ip6 saddr . meta l4proto . th dport @portknock6 accept"},
		{"default-drop.nft", nft.ErrSetMissing, "set portknock4"},
		{"missing-table", nft.ErrTableMissing, "table inet filter {"},
	} {
		t.Run(strings.TrimSuffix(tc.file, ".nft"), func(t *testing.T) {
			ns := netnstest.New(t, "wrong")
			if tc.file != "missing-table" {
				load(t, ns, readFile(t, tc.file))
			}
			b := newBackend(t, ns, nft.Config{Mode: nft.ExistingTable, Table: "filter", Protected: ssh})
			err := b.Setup(context.Background())
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Setup: %v\nwant %v saying %q", err, tc.want, tc.says)
			}
			t.Logf("refused: %v", err)
		})
	}
	t.Run("own-table", func(t *testing.T) {
		ns := netnstest.New(t, "wrong")
		load(t, ns, "table inet portknock { set allowed4 { type ipv4_addr; flags timeout; }; }")
		b := newBackend(t, ns, nft.Config{Protected: ssh})
		if err := b.Setup(context.Background()); !errors.Is(err, nft.ErrSetType) {
			t.Fatalf("Setup over a wrong allowed4: %v, want %v", err, nft.ErrSetType)
		}
	})
}

// Sets declared with typeof have the same key and are accepted.
func TestTypeofSetsAccepted(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "typeof")
	load(t, ns, readFile(t, "typeof.nft"))
	b := setUp(t, ns, nft.Config{Mode: nft.ExistingTable, Table: "filter", Protected: ssh})
	if err := b.Open(context.Background(), grant("2001:db8::1", 22, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := grants(t, b); len(got) != 1 {
		t.Errorf("grants %v", got)
	}
}

// Setup removes what should not be there: an element added by hand
// without a timeout (it would never expire) and one for a port the
// configuration does not protect.
func TestSetupPrunesStrayElements(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "prune")
	load(t, ns, readFile(t, "admin-filter.nft"))
	load(t, ns, "add element inet filter portknock4 { 192.0.2.9 . tcp . 22, 192.0.2.9 . tcp . 3306 timeout 1h, 192.0.2.8 . tcp . 22 timeout 1h }")
	b := setUp(t, ns, nft.Config{Mode: nft.ExistingTable, Table: "filter", Protected: ssh})
	if got := grants(t, b); len(got) != 1 || got["192.0.2.8 tcp/22"] == 0 {
		t.Errorf("after Setup: %v, want only 192.0.2.8 tcp/22", got)
	}
}

// jiffy is how much longer than asked a grant may last: the refresh by
// add may leave the duration plus one kernel clock tick.
const jiffy = 10 * time.Millisecond

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An ip table (IPv4 only) carries only the IPv4 set.
func TestExistingIPTable(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "ipfam")
	cfg := nft.Config{Mode: nft.ExistingTable, Family: "ip", Table: "filter", Protected: ssh}
	b := newBackend(t, ns, cfg)
	load(t, ns, b.Ruleset())
	load(t, ns, "add chain ip filter input { type filter hook input priority filter; policy drop; }")
	load(t, ns, "add rule ip filter input "+b.AdminRules()[0])
	if err := b.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Open(context.Background(), grant("192.0.2.1", 22, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := grants(t, b); len(got) != 1 {
		t.Errorf("grants %v", got)
	}
}
