package nft_test

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/nft"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"golang.org/x/sys/unix"
)

var ssh = []knock.Port{{Proto: knock.TCP, Port: 22}}

// needKernel skips or fails unless the test can build namespaces and read
// rulesets back with the nft binary.
func needKernel(t testing.TB) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	testenv.NeedCommand(t, "nft", "apt-get install nftables")
}

// nsFd opens ns for nftables and closes it when the test ends.
func nsFd(t testing.TB, ns *netnstest.NS) int {
	t.Helper()
	fd, err := ns.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// newBackend makes a backend working in ns.
func newBackend(t testing.TB, ns *netnstest.NS, cfg nft.Config) *nft.Backend {
	t.Helper()
	cfg.NetNSFd = nsFd(t, ns)
	b, err := nft.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setUp is newBackend then Setup.
func setUp(t testing.TB, ns *netnstest.NS, cfg nft.Config) *nft.Backend {
	t.Helper()
	b := newBackend(t, ns, cfg)
	if err := b.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b
}

// load loads a ruleset with the nft binary, as an administrator would.
func load(t testing.TB, ns *netnstest.NS, ruleset string) {
	t.Helper()
	cmd := ns.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s\n--- ruleset:\n%s", err, out, ruleset)
	}
}

// ruleset is "nft list ruleset" in ns, normalised.
func ruleset(t testing.TB, ns *netnstest.NS) string {
	t.Helper()
	return normalize(ns.MustRun("nft", "list", "ruleset"))
}

var (
	expiresRE  = regexp.MustCompile(` expires [0-9hms]+`)
	elementsRE = regexp.MustCompile(`(?s)elements = \{(.*?)\}`)
	commentRE  = regexp.MustCompile(`(?m)^\s*#.*\n`)
)

// normalize makes nft's listing comparable: the time an element has left
// goes (it changes every millisecond), element lists are put on one line
// and sorted (nft wraps them, and a hash set lists them in any order),
// comments go, and blank lines become single ones.
func normalize(s string) string {
	s = expiresRE.ReplaceAllString(s, "")
	s = commentRE.ReplaceAllString(s, "")
	s = elementsRE.ReplaceAllStringFunc(s, func(m string) string {
		inner := elementsRE.FindStringSubmatch(m)[1]
		var els []string
		for _, e := range strings.Split(inner, ",") {
			els = append(els, strings.Join(strings.Fields(e), " "))
		}
		slices.Sort(els)
		return "elements = { " + strings.Join(els, ", ") + " }"
	})
	for strings.Contains(s, "\n\n\n") {
		s = strings.ReplaceAll(s, "\n\n\n", "\n\n")
	}
	return strings.TrimSpace(s) + "\n"
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// grants lists b's grants as "addr proto/port", failing the test on error.
func grants(t testing.TB, b *nft.Backend) map[string]time.Duration {
	t.Helper()
	gs, err := b.Grants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, g := range gs {
		out[describe(g)] = g.Duration
	}
	return out
}

func describe(g firewall.Grant) string {
	return fmt.Sprintf("%s %s/%d", g.Addr, g.Proto, g.Port)
}

func grant(addr string, port uint16, d time.Duration) firewall.Grant {
	return firewall.Grant{Addr: netip.MustParseAddr(addr), Proto: knock.TCP, Port: port, Duration: d}
}
