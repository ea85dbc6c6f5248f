// Package netnstest builds throwaway network namespaces for tests: a host
// and a client joined by a veth pair, with IPv4 and IPv6 addresses, removed
// again when the test ends. Traffic never leaves them.
//
// It needs root and iproute2; tests call testenv.NeedRoot first.
package netnstest

import (
	"net/netip"
	"testing"

	"github.com/portknock/knock/internal/netns"
)

// NS is one network namespace, removed when the test ends.
type NS struct {
	*netns.NS
	tb testing.TB
}

// New creates a namespace with loopback up, removed when tb ends. Names are
// unique per process, so packages testing in parallel do not collide.
func New(tb testing.TB, role string) *NS {
	tb.Helper()
	n, err := netns.New(role)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Delete)
	return &NS{NS: n, tb: tb}
}

// MustRun is Run failing the test on error.
func (n *NS) MustRun(args ...string) string {
	n.tb.Helper()
	out, err := n.Run(args...)
	if err != nil {
		n.tb.Fatal(err)
	}
	return out
}

// Pair is a host and a client joined by veth, each end named eth0.
type Pair struct {
	Host, Client     *NS
	HostV4, ClientV4 netip.Addr
	HostV6, ClientV6 netip.Addr
}

// NewPair creates two namespaces joined by a veth pair (see netns.NewPair),
// removed when the test ends.
func NewPair(tb testing.TB) *Pair {
	tb.Helper()
	p, err := netns.NewPair()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Delete)
	return &Pair{
		Host: &NS{NS: p.Host, tb: tb}, Client: &NS{NS: p.Client, tb: tb},
		HostV4: p.HostV4, ClientV4: p.ClientV4, HostV6: p.HostV6, ClientV6: p.ClientV6,
	}
}
