package iptables

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
)

// Open implements firewall.Backend: it inserts a rule accepting g.Addr on
// g's port until g.Duration from now, replacing any rule for the same
// address and port. Only protected ports can be opened: anything else is
// governed by the rest of the firewall, which a knock must not bypass.
func (b *Backend) Open(ctx context.Context, g firewall.Grant) error {
	want, err := b.grantRule(g)
	if err != nil {
		return err
	}
	if !slices.Contains(b.protected, knock.Port{Proto: want.proto, Port: want.port}) {
		return fmt.Errorf("iptables: opening %s/%d: %w", want.proto, want.port, ErrNotProtected)
	}
	f := b.familyOf(want.addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	have, err := b.grantRules(ctx, f)
	if err != nil {
		return err
	}
	if !slices.Contains(have, want) {
		if _, err := b.run(ctx, f, concat([]string{"-I", b.chain, "1"}, want.args()...)...); err != nil {
			return err
		}
	}
	for _, r := range have {
		if r.sameTarget(want) && r != want {
			if err := b.delete(ctx, f, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// grantRule checks g and dates it: the rule matches up to the last whole
// second before g ends, so access ends at most a second early, never late.
func (b *Backend) grantRule(g firewall.Grant) (grantRule, error) {
	r, err := target(g)
	if err != nil {
		return r, err
	}
	now := b.now()
	r.stop = now.Add(g.Duration).Unix() - 1
	if r.stop < now.Unix() {
		return r, fmt.Errorf("iptables: duration %s: %w: the time match counts whole seconds", g.Duration, ErrBadGrant)
	}
	if r.stop > maxStop.Unix() {
		return r, fmt.Errorf("iptables: grant ending %s: %w: iptables cannot write a stop after %s", r.end().Format(time.RFC3339), ErrBadGrant, maxStop.Format(time.RFC3339))
	}
	return r, nil
}

// target checks the address, protocol and port of g.
func target(g firewall.Grant) (grantRule, error) {
	a := g.Addr.Unmap()
	if !a.IsValid() || a.Zone() != "" || a.IsUnspecified() {
		return grantRule{}, fmt.Errorf("iptables: address %q: %w", g.Addr.String(), ErrBadGrant)
	}
	if (g.Proto != knock.TCP && g.Proto != knock.UDP) || g.Port == 0 {
		return grantRule{}, fmt.Errorf("iptables: port %q: %w", fmt.Sprintf("%s/%d", g.Proto, g.Port), ErrBadGrant)
	}
	return grantRule{addr: a, proto: g.Proto, port: g.Port}, nil
}

// Close implements firewall.Backend: it deletes the rules for g's address
// and port, whatever their stop.
func (b *Backend) Close(ctx context.Context, g firewall.Grant) error {
	want, err := target(g)
	if err != nil {
		return err
	}
	f := b.familyOf(want.addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	have, err := b.grantRules(ctx, f)
	if err != nil {
		return err
	}
	for _, r := range have {
		if r.sameTarget(want) {
			if err := b.delete(ctx, f, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sweep deletes the grant rules that have expired, in both families, and
// reports how many it deleted. Expired rules already match nothing; sweeping
// keeps the chain short and ends the risk of a clock set back.
func (b *Backend) Sweep(ctx context.Context) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sweep(ctx)
}

func (b *Backend) sweep(ctx context.Context) (int, error) {
	now := b.now()
	n := 0
	var errs []error
	for _, f := range b.families() {
		have, err := b.grantRules(ctx, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range have {
			if now.Before(r.end()) {
				continue
			}
			if err := b.delete(ctx, f, r); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// Grants lists the grants in force, newest first, IPv4 before IPv6, with
// the time each has left as its Duration.
func (b *Backend) Grants(ctx context.Context) ([]firewall.Grant, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var out []firewall.Grant
	for _, f := range b.families() {
		have, err := b.grantRules(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range have {
			if left := r.end().Sub(now); left > 0 {
				out = append(out, firewall.Grant{Addr: r.addr, Proto: r.proto, Port: r.port, Duration: left})
			}
		}
	}
	return out, nil
}

// grantRules lists the grant rules of one family's chain, in chain order.
func (b *Backend) grantRules(ctx context.Context, f *family) ([]grantRule, error) {
	l, err := b.list(ctx, f, b.chain)
	if err != nil {
		return nil, err
	}
	var out []grantRule
	for _, args := range l.inChain(b.chain) {
		if r, ok := parseGrant(args); ok && r.addr.BitLen() == f.bits {
			out = append(out, r)
		}
	}
	return out, nil
}

func (b *Backend) delete(ctx context.Context, f *family, r grantRule) error {
	_, err := b.run(ctx, f, concat([]string{"-D", b.chain}, r.args()...)...)
	return err
}

// String is for tests and messages.
func (g grantRule) String() string {
	return fmt.Sprintf("%s %s/%d until %s", g.addr, g.proto, g.port, time.Unix(g.stop, 0).UTC().Format(dateLayout))
}

var _ firewall.Backend = (*Backend)(nil)
