package nft

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
)

// Decisions Open and Close report.
var (
	// ErrNotProtected refuses a grant for a port outside Config.Protected:
	// in existing-table mode the administrator's rule accepts whatever the
	// sets hold, so an unlisted port must never get into them.
	ErrNotProtected = errors.New("port is not protected")
	// ErrFamily refuses an address the table has no set for (IPv6 in an
	// ip table, IPv4 in an ip6 table, or no address at all).
	ErrFamily = errors.New("no set for this address family")
	// ErrDuration refuses a grant shorter than MinDuration: too short a
	// timeout could reach the kernel as none, and an element without a
	// timeout stays until someone deletes it.
	ErrDuration = errors.New("grant duration too short")
)

// Backend is a firewall.Backend over nftables. Its methods are safe for
// concurrent use; each call talks to the kernel on a netlink socket of its
// own, so a failed call leaves nothing half-read behind for the next.
// Contexts are checked before a call; a netlink exchange, which takes
// microseconds, is not interrupted.
type Backend struct {
	cfg        Config
	table      *nftables.Table
	set4, set6 *nftables.Set // nil when the table's family has no such set
	protected  *nftables.Set // own-table mode only
	mu         sync.Mutex    // one batch at a time; guards the field below
	// addRefreshes is whether this kernel refreshes an element's timeout
	// when it is added again; Setup finds out.
	addRefreshes bool
}

var _ firewall.Backend = (*Backend)(nil)

// New checks cfg and returns a backend. It does not touch the kernel: call
// Setup at every start.
func New(cfg Config) (*Backend, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	b := &Backend{cfg: cfg, table: &nftables.Table{Name: cfg.Table, Family: tableFamily(cfg.Family)}}
	if cfg.Set4 != "" {
		b.set4 = &nftables.Set{Table: b.table, Name: cfg.Set4, KeyType: typeAllowed4, HasTimeout: true}
	}
	if cfg.Set6 != "" {
		b.set6 = &nftables.Set{Table: b.table, Name: cfg.Set6, KeyType: typeAllowed6, HasTimeout: true}
	}
	if cfg.Mode == OwnTable {
		b.protected = &nftables.Set{Table: b.table, Name: protectedSet, KeyType: typeProtected}
	}
	return b, nil
}

// Config returns the configuration with its defaults filled in.
func (b *Backend) Config() Config { return b.cfg }

// Open adds the grant's element with its duration as the element's own
// timeout, so the kernel ends the access even if this process dies. An
// element already there gets the new duration.
func (b *Backend) Open(ctx context.Context, g firewall.Grant) error {
	set, key, err := b.element(g, true)
	if err == nil {
		err = b.refresh(ctx, set, key, g.Duration)
	}
	if err != nil {
		return fmt.Errorf("open %q in %s: %w", describe(g), b.where(), err)
	}
	return nil
}

// Limits of a grant's duration.
const (
	// MinDuration keeps clear of the kernel's clock tick: it keeps
	// timeouts in jiffies (4ms at HZ=250), and a timeout that rounds
	// down to none would be a grant that never ends.
	MinDuration = time.Second
	// jiffy is the longest kernel clock tick (HZ=100).
	jiffy = 10 * time.Millisecond
)

// refresh adds the element with a fresh timeout, in one atomic batch: the
// address never loses access in between.
//
// Newer kernels (Linux 6.12 added element timeout updates) update an
// element that is added again, but only when its timeout, in jiffies,
// differs from the one it has. So the element is added twice, with the
// duration plus a jiffy and then the duration: whatever timeout it had,
// one of the two differs and restarts its clock (the grant may last a
// jiffy longer). Older kernels keep an existing element as it is; there
// the element is added (so that it exists), deleted and added again. That
// costs more (a deletion waits for an RCU grace period), so it is used
// only where Setup found the kernel not to update.
func (b *Backend) refresh(ctx context.Context, set *nftables.Set, key []byte, d time.Duration) error {
	if d < MinDuration {
		return fmt.Errorf("%w: got %s, want at least %s", ErrDuration, d, MinDuration)
	}
	d = d.Truncate(time.Millisecond)
	el := []nftables.SetElement{{Key: key, Timeout: d}}
	return b.batch(ctx, func(c *nftables.Conn) error {
		if b.addRefreshes {
			longer := []nftables.SetElement{{Key: key, Timeout: d + jiffy}}
			return errors.Join(c.SetAddElements(set, longer), c.SetAddElements(set, el))
		}
		return errors.Join(c.SetAddElements(set, el), c.SetDeleteElements(set, el), c.SetAddElements(set, el))
	})
}

// Close deletes the grant's element. Adding it first (with a short
// timeout) then deleting it in one batch makes the delete succeed whether
// or not the element was there.
func (b *Backend) Close(ctx context.Context, g firewall.Grant) error {
	set, key, err := b.element(g, false)
	if err == nil {
		el := []nftables.SetElement{{Key: key, Timeout: time.Second}}
		err = b.batch(ctx, func(c *nftables.Conn) error {
			return errors.Join(c.SetAddElements(set, el), c.SetDeleteElements(set, el))
		})
	}
	if err != nil {
		return fmt.Errorf("close %q in %s: %w", describe(g), b.where(), err)
	}
	return nil
}

// Grants lists the grants in force, each with Duration set to the time it
// has left. A Duration of 0 marks an element without timeout, which only a
// hand-made "nft add element" makes; Setup removes those.
func (b *Backend) Grants(ctx context.Context) ([]firewall.Grant, error) {
	var out []firewall.Grant
	err := b.query(ctx, func(c *nftables.Conn) error {
		for _, set := range b.allowedSets() {
			els, err := c.GetSetElements(set)
			if err != nil {
				return fmt.Errorf("listing set %s: %w", set.Name, err)
			}
			for _, el := range els {
				if addr, p, ok := decodeAllowed(el.Key); ok && p.Port != 0 {
					out = append(out, firewall.Grant{Addr: addr, Proto: p.Proto, Port: p.Port, Duration: el.Expires})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("grants in %s: %w", b.where(), err)
	}
	slices.SortFunc(out, func(x, y firewall.Grant) int {
		return cmp.Or(x.Addr.Compare(y.Addr), cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.Port, y.Port))
	})
	return out, nil
}

// element checks a grant and returns its set and key.
func (b *Backend) element(g firewall.Grant, mustProtect bool) (*nftables.Set, []byte, error) {
	addr := g.Addr.Unmap().WithZone("")
	p := knock.Port{Proto: g.Proto, Port: g.Port}
	if mustProtect && !slices.Contains(b.cfg.Protected, p) {
		return nil, nil, fmt.Errorf("%w: %s is not among %v", ErrNotProtected, p, b.cfg.Protected)
	}
	if p.Proto != knock.TCP && p.Proto != knock.UDP {
		return nil, nil, fmt.Errorf("%w: protocol %q", ErrNotProtected, p.Proto)
	}
	set := b.set6
	if addr.Is4() {
		set = b.set4
	}
	if !addr.IsValid() || set == nil {
		return nil, nil, fmt.Errorf("%w: %s table %s", ErrFamily, b.cfg.Family, b.cfg.Table)
	}
	return set, allowedKey(addr, p), nil
}

func (b *Backend) allowedSets() []*nftables.Set {
	var sets []*nftables.Set
	for _, s := range []*nftables.Set{b.set4, b.set6} {
		if s != nil {
			sets = append(sets, s)
		}
	}
	return sets
}

// batch runs f to queue messages and sends them as one transaction.
func (b *Backend) batch(ctx context.Context, f func(*nftables.Conn) error) error {
	return b.query(ctx, func(c *nftables.Conn) error {
		if err := f(c); err != nil {
			return err
		}
		return c.Flush()
	})
}

// query runs f with a fresh connection, one call at a time: a Conn's
// queue of messages is shared by whoever flushes it.
func (b *Backend) query(ctx context.Context, f func(*nftables.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var opts []nftables.ConnOption
	if b.cfg.NetNSFd != 0 {
		opts = append(opts, nftables.WithNetNSFd(b.cfg.NetNSFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	return f(c)
}

func (b *Backend) where() string { return b.cfg.Family + " " + b.cfg.Table }

func describe(g firewall.Grant) string {
	return fmt.Sprintf("%s %s/%d", g.Addr, g.Proto, g.Port)
}

func tableFamily(f string) nftables.TableFamily {
	switch f {
	case familyIP:
		return nftables.TableFamilyIPv4
	case familyIP6:
		return nftables.TableFamilyIPv6
	}
	return nftables.TableFamilyINet
}

// Sweep implements firewall.Backend: set elements time out in the kernel.
func (b *Backend) Sweep(context.Context) (int, error) { return 0, nil }

// Stop implements firewall.Backend: grants stay in the kernel, which ends
// them on time, and the guard stays in place.
func (b *Backend) Stop(context.Context) error { return nil }

// Durable implements firewall.Backend.
func (b *Backend) Durable() bool { return true }

// Describe implements firewall.Backend: the ruleset, and in existing-table
// mode the rules the administrator's own chain needs.
func (b *Backend) Describe() string {
	s := b.Ruleset()
	if b.cfg.Mode == ExistingTable {
		s += "\n# Your input chain must accept what these sets grant, before it drops:\n#   " + strings.Join(b.AdminRules(), "\n#   ") + "\n"
	}
	return s
}
