// Package clienttest has fakes of the client's edges (package client):
// a clock that only moves when told, and a network that records what it
// is asked to send and answers probes as the test says. With them the
// whole client runs in unit tests without a network and without
// sleeping. Capture, beside them, is the real thing: a packet socket for
// the end-to-end tests in network namespaces.
package clienttest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/portknock/knock/client"
)

// Clock is a manual clock: Sleep records the pause and moves the time on.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now implements client.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep implements client.Clock.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

// Sleeps returns every pause asked for, in order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// Sent is one packet the fake network was asked to send.
type Sent struct {
	Remote netip.Addr
	client.Packet
}

// Network is a fake client.Network.
type Network struct {
	// Hosts answers Resolve for names; an address resolves to itself.
	Hosts map[string]netip.Addr
	// Local answers LocalAddr.
	Local netip.Addr
	// Open answers the n-th Probe (from 1); nil: always closed.
	Open func(n int, ap netip.AddrPort) bool
	// SendErr, when set, fails every Send.
	SendErr error

	mu     sync.Mutex
	sent   []Sent
	probes []netip.AddrPort
}

// ErrNoHost is Resolve's error for a name not in Hosts.
var ErrNoHost = errors.New("no such host")

// Resolve implements client.Network.
func (n *Network) Resolve(_ context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	if a, ok := n.Hosts[host]; ok {
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("lookup %s: %w", host, ErrNoHost)
}

// LocalAddr implements client.Network.
func (n *Network) LocalAddr(netip.Addr) (netip.Addr, error) {
	if !n.Local.IsValid() {
		return netip.Addr{}, errors.New("network is unreachable")
	}
	return n.Local, nil
}

// Sender implements client.Network.
func (n *Network) Sender(remote netip.Addr) (client.Sender, error) {
	return &sender{n: n, remote: remote}, nil
}

// Probe implements client.Network.
func (n *Network) Probe(_ context.Context, ap netip.AddrPort) (bool, error) {
	n.mu.Lock()
	n.probes = append(n.probes, ap)
	count := len(n.probes)
	n.mu.Unlock()
	return n.Open != nil && n.Open(count, ap), nil
}

// Sent returns every packet sent, in order.
func (n *Network) Sent() []Sent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Sent(nil), n.sent...)
}

// Ports returns the ports of every packet sent, in order.
func (n *Network) Ports() []uint16 {
	var out []uint16
	for _, s := range n.Sent() {
		out = append(out, s.Port)
	}
	return out
}

// Probes returns every address probed, in order.
func (n *Network) Probes() []netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]netip.AddrPort(nil), n.probes...)
}

type sender struct {
	n      *Network
	remote netip.Addr
}

func (s *sender) Send(p client.Packet) error {
	if s.n.SendErr != nil {
		return s.n.SendErr
	}
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	p.Payload = append([]byte(nil), p.Payload...)
	s.n.sent = append(s.n.sent, Sent{Remote: s.remote, Packet: p})
	return nil
}

func (s *sender) Close() error { return nil }

// Rand is a deterministic byte source for RAND fields, IVs, nonces and
// keys: the bytes seed, seed+1, seed+2, ...
type Rand struct{ next byte }

// NewRand returns a Rand starting at seed.
func NewRand(seed byte) *Rand { return &Rand{next: seed} }

// Read implements io.Reader.
func (r *Rand) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = r.next
		r.next++
	}
	return len(b), nil
}

var (
	_ client.Clock   = (*Clock)(nil)
	_ client.Network = (*Network)(nil)
)
