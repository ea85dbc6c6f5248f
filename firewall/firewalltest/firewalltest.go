// Package firewalltest is a fake firewall for unit tests: it records grants
// and their expiry against an injected clock.
package firewalltest

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
)

// Backend is a firewall.Backend in memory.
type Backend struct {
	mu      sync.Mutex
	now     func() time.Time
	expires map[key]time.Time
	// Log records every call, as "open 10.0.0.1 tcp/22 30s" or "close ...".
	Log []string
	// Calls records the lifecycle calls: "setup", "stop", "uninstall".
	Calls []string
	// Fail, when set, makes Open and Close return it.
	Fail error
}

type key struct {
	addr  string
	proto knock.Proto
	port  uint16
}

// New returns an empty fake using now as its clock.
func New(now func() time.Time) *Backend {
	return &Backend{now: now, expires: map[key]time.Time{}}
}

// Open implements firewall.Backend.
func (b *Backend) Open(_ context.Context, g firewall.Grant) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Log = append(b.Log, fmt.Sprintf("open %s %s/%d %s", g.Addr, g.Proto, g.Port, g.Duration))
	if b.Fail != nil {
		return b.Fail
	}
	b.expires[key{g.Addr.String(), g.Proto, g.Port}] = b.now().Add(g.Duration)
	return nil
}

// Close implements firewall.Backend.
func (b *Backend) Close(_ context.Context, g firewall.Grant) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Log = append(b.Log, fmt.Sprintf("close %s %s/%d", g.Addr, g.Proto, g.Port))
	if b.Fail != nil {
		return b.Fail
	}
	delete(b.expires, key{g.Addr.String(), g.Proto, g.Port})
	return nil
}

// Active reports the grants in force now, as "10.0.0.1 tcp/22", sorted.
func (b *Backend) Active() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	now := b.now()
	for k, exp := range b.expires {
		if now.Before(exp) {
			out = append(out, fmt.Sprintf("%s %s/%d", k.addr, k.proto, k.port))
		}
	}
	sort.Strings(out)
	return out
}

// Setup implements firewall.Backend; it is logged as "setup".
func (b *Backend) Setup(context.Context) error { b.note("setup"); return nil }

// Uninstall implements firewall.Backend; it is logged as "uninstall".
func (b *Backend) Uninstall(context.Context) error { b.note("uninstall"); return nil }

// Stop implements firewall.Backend; it is logged as "stop".
func (b *Backend) Stop(context.Context) error { b.note("stop"); return nil }

// Sweep implements firewall.Backend: the fake's grants expire by the clock.
func (b *Backend) Sweep(context.Context) (int, error) { return 0, nil }

// Durable implements firewall.Backend: the fake behaves as the kernel does.
func (b *Backend) Durable() bool { return true }

// Describe implements firewall.Backend.
func (b *Backend) Describe() string { return "a fake firewall in memory" }

// Grants implements firewall.Backend.
func (b *Backend) Grants(context.Context) ([]firewall.Grant, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []firewall.Grant
	now := b.now()
	for k, exp := range b.expires {
		if now.Before(exp) {
			out = append(out, firewall.Grant{Addr: netip.MustParseAddr(k.addr), Proto: k.proto, Port: k.port, Duration: exp.Sub(now)})
		}
	}
	return out, nil
}

func (b *Backend) note(what string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.Calls = append(b.Calls, what)
}

var _ firewall.Backend = (*Backend)(nil)
