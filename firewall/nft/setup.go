package nft

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Why Setup refuses to start.
var (
	// ErrSetType: a set of the configured name exists with another type.
	ErrSetType = errors.New("set has the wrong type")
	// ErrSetMissing: existing-table mode, and the administrator's table
	// does not declare a set the daemon fills.
	ErrSetMissing = errors.New("set not declared")
	// ErrTableMissing: existing-table mode, and the table does not exist.
	ErrTableMissing = errors.New("table not found")
	// ErrNotReferenced: existing-table mode, and no rule of the table
	// looks the set up, so a grant would open nothing.
	ErrNotReferenced = errors.New("set not referenced by any rule")
)

// Setup makes the kernel's state match the configuration. It is safe to
// run at every start: grants in force survive it, and in own-table mode
// the table is updated in one atomic batch, so the guard never lapses.
// It also removes grants for ports no longer protected and elements
// without a timeout, so nothing stays open by accident.
//
// In own-table mode the table is this process's: Setup fails with
// ErrTableInUse while another live process holds it (see claim).
func (b *Backend) Setup(ctx context.Context) error {
	setup := b.setupOwn
	if b.cfg.Mode == ExistingTable {
		setup = b.setupExisting
	} else if err := b.claim(); err != nil {
		return err
	}
	err := b.batch(ctx, setup)
	if err == nil {
		err = b.query(ctx, func(c *nftables.Conn) (err error) {
			b.addRefreshes, err = b.probeRefresh(c)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("setting up %s: %w", b.where(), err)
	}
	return nil
}

// Uninstall removes what Setup installed: the own table, or in
// existing-table mode every grant (the administrator's set declarations
// stay). Stopping the daemon must not call it: that would open the ports.
func (b *Backend) Uninstall(ctx context.Context) error {
	err := b.batch(ctx, func(c *nftables.Conn) error {
		if _, err := c.ListTableOfFamily(b.table.Name, b.table.Family); errors.Is(err, unix.ENOENT) {
			return nil
		} else if err != nil {
			return err
		}
		if b.cfg.Mode == OwnTable {
			c.DelTable(b.table)
			return nil
		}
		for _, s := range b.allowedSets() {
			c.FlushSet(s)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("uninstalling %s: %w", b.where(), err)
	}
	return nil
}

// setupOwn queues the own table: created where missing, the protected set
// and the chains rewritten in place, the grant sets kept.
func (b *Backend) setupOwn(c *nftables.Conn) error {
	c.AddTable(b.table)
	var existing []*nftables.Set
	for _, want := range []*nftables.Set{b.protected, b.set4, b.set6} {
		exists, err := b.checkSet(c, want)
		if err != nil {
			return err
		}
		if exists {
			existing = append(existing, want)
		} else if err := c.AddSet(want, nil); err != nil {
			return err
		}
	}
	c.FlushSet(b.protected)
	var ports []nftables.SetElement
	for _, p := range b.cfg.Protected {
		ports = append(ports, nftables.SetElement{Key: serviceKey(p)})
	}
	if err := c.SetAddElements(b.protected, ports); err != nil {
		return err
	}
	if err := b.prune(c, existing); err != nil {
		return err
	}
	return b.queueChains(c)
}

// queueChains rewrites both chains' rules. A base chain left by another
// version with another hook or priority cannot be updated in place, so it
// is deleted and made again, in the same batch.
func (b *Backend) queueChains(c *nftables.Conn) error {
	input, guard := b.chains()
	chains, err := c.ListChainsOfTableFamily(b.table.Family)
	if err != nil {
		return fmt.Errorf("listing chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name == b.table.Name && ch.Name == input.Name && !sameHook(ch, input) {
			c.FlushChain(ch)
			c.DelChain(ch)
		}
	}
	c.AddChain(input)
	c.AddChain(guard)
	c.FlushChain(input)
	c.FlushChain(guard)
	for _, r := range b.guardRules() {
		c.AddRule(&nftables.Rule{Table: b.table, Chain: guard, Exprs: r})
	}
	for _, r := range b.inputRules() {
		c.AddRule(&nftables.Rule{Table: b.table, Chain: input, Exprs: r})
	}
	return nil
}

func sameHook(got, want *nftables.Chain) bool {
	return got.Hooknum != nil && got.Priority != nil && got.Type == want.Type &&
		*got.Hooknum == *want.Hooknum && *got.Priority == *want.Priority
}

// setupExisting checks the administrator's table, its sets and a rule
// using them; it changes nothing but stale grants.
func (b *Backend) setupExisting(c *nftables.Conn) error {
	if _, err := c.ListTableOfFamily(b.table.Name, b.table.Family); errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%w: declare it (with the sets) as shown by knockdaemon -test:\n%s", ErrTableMissing, b.Ruleset())
	} else if err != nil {
		return fmt.Errorf("looking for the table: %w", err)
	}
	for _, want := range b.allowedSets() {
		exists, err := b.checkSet(c, want)
		if err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("%w: set %s: add to table %s:\n%s", ErrSetMissing, want.Name, b.where(), setText(want, "\t"))
		}
	}
	if err := b.checkReferenced(c); err != nil {
		return err
	}
	return b.prune(c, b.allowedSets())
}

// checkSet reports whether want exists, and fails if it does with another
// type: filling it would fail, or match something else than meant.
func (b *Backend) checkSet(c *nftables.Conn, want *nftables.Set) (bool, error) {
	got, err := c.GetSetByName(b.table, want.Name)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for set %s: %w", want.Name, err)
	}
	same := got.KeyType.GetNFTMagic() == want.KeyType.GetNFTMagic() && got.KeyType.Bytes == want.KeyType.Bytes &&
		!got.IsMap && !got.Interval && !got.Constant && (got.HasTimeout || !want.HasTimeout)
	if !same {
		return true, fmt.Errorf("%w: set %s in table %s is %q, want %q", ErrSetType, want.Name, b.where(), setDecl(got), setDecl(want))
	}
	return true, nil
}

// setDecl describes a set as nft declares it.
func setDecl(s *nftables.Set) string {
	decl := "type " + s.KeyType.Name
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{s.Constant, "constant"}, {s.Interval, "interval"}, {s.HasTimeout, "timeout"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	if s.IsMap {
		decl += " : " + s.DataType.Name
	}
	if len(flags) > 0 {
		decl += "; flags " + strings.Join(flags, ",")
	}
	return decl
}

// prune queues the removal of grants that should not be there: for a port
// no longer protected, or without a timeout. sets are those that exist.
func (b *Backend) prune(c *nftables.Conn, sets []*nftables.Set) error {
	for _, set := range sets {
		if set == b.protected {
			continue
		}
		els, err := c.GetSetElements(set)
		if err != nil {
			return fmt.Errorf("listing set %s: %w", set.Name, err)
		}
		var stale []nftables.SetElement
		for _, el := range els {
			_, p, ok := decodeAllowed(el.Key)
			if !ok || el.Timeout == 0 || !slices.Contains(b.cfg.Protected, p) {
				stale = append(stale, nftables.SetElement{Key: el.Key})
			}
		}
		if len(stale) > 0 {
			if err := c.SetDeleteElements(set, stale); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkReferenced fails unless a rule of the table looks up every set:
// declared sets that no rule uses would make every knock open nothing.
// A chain whose rules cannot be read is given the benefit of the doubt.
func (b *Backend) checkReferenced(c *nftables.Conn) error {
	chains, err := c.ListChainsOfTableFamily(b.table.Family)
	if err != nil {
		return fmt.Errorf("listing chains: %w", err)
	}
	missing := map[string]bool{}
	for _, s := range b.allowedSets() {
		missing[s.Name] = true
	}
	for _, ch := range chains {
		if ch.Table.Name != b.table.Name {
			continue
		}
		rules, err := c.GetRules(b.table, ch)
		if err != nil {
			return nil
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				switch e := e.(type) {
				case *expr.Lookup:
					delete(missing, e.SetName)
				case *expr.Dynset:
					delete(missing, e.SetName)
				}
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var lines []string
	for _, s := range b.allowedSets() {
		if missing[s.Name] {
			lines = append(lines, "\t"+adminRule(s))
		}
	}
	return fmt.Errorf("%w: %s: add to the input chain of table %s, before anything that drops:\n%s",
		ErrNotReferenced, strings.Join(slices.Sorted(maps.Keys(missing)), ", "), b.where(), strings.Join(lines, "\n"))
}
