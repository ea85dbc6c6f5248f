// Package firewalltest is a fake firewall for unit tests: it records grants
// and their expiry against an injected clock.
package firewalltest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/portknock/knock/firewall"
)

// Backend is a firewall.Backend in memory.
type Backend struct {
	mu      sync.Mutex
	now     func() time.Time
	expires map[key]time.Time
	// Log records every call, as "open 10.0.0.1 tcp/22 30s" or "close ...".
	Log []string
	// Fail, when set, makes Open and Close return it.
	Fail error
}

type key struct {
	addr  string
	proto string
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

var _ firewall.Backend = (*Backend)(nil)
