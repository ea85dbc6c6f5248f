package lossy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/bench/internal/netns"
	"github.com/portknock/knock/internal/testenv"
)

// Two namespaces joined through a third that relays: pings cross it,
// and a loss of 100% stops them.
func TestRelayJoinsTwoNamespaces(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	var nss []*netns.NS
	for _, role := range []string{"a", "mid", "b"} {
		n, err := netns.New("lossytest-" + role)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Delete() })
		nss = append(nss, n)
	}
	a, mid, b := nss[0], nss[1], nss[2]
	run := func(n *netns.NS, args ...string) {
		t.Helper()
		if _, err := n.Run(args...); err != nil {
			t.Fatal(err)
		}
	}
	run(a, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "ta", "netns", mid.Name)
	run(b, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "tb", "netns", mid.Name)
	run(a, "ip", "addr", "add", "10.99.0.1/24", "dev", "eth0")
	run(b, "ip", "addr", "add", "10.99.0.2/24", "dev", "eth0")
	for _, n := range []*netns.NS{a, b} {
		run(n, "ip", "link", "set", "eth0", "up")
	}
	run(mid, "ip", "link", "set", "ta", "up")
	run(mid, "ip", "link", "set", "tb", "up")

	im := NewImpairer(Config{Delay: 5 * time.Millisecond}, 1)
	var r *Relay
	if err := mid.Do(func() (err error) { r, err = OpenRelay("ta", "tb", im); return err }); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	out, err := a.Run("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.99.0.2")
	if err != nil {
		t.Fatalf("no ping through the relay: %v", err)
	}
	if !strings.Contains(out, " 0% packet loss") {
		t.Errorf("ping through an unimpaired relay:\n%s", out)
	}
	im.Set(Config{Loss: 1})
	if _, err := a.Run("ping", "-c", "2", "-i", "0.2", "-W", "1", "10.99.0.2"); err == nil {
		t.Error("a ping crossed a relay that loses everything")
	}
	if seen, dropped, _ := r.Stats(0); seen == 0 || dropped == 0 {
		t.Errorf("relay counted %d seen, %d dropped", seen, dropped)
	}
}
