package iptables

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Setup installs the chain, its guard and the jump from INPUT in both
// families, or repairs them, keeping every grant; then it sweeps expired
// grants. It is safe to call at every start.
func (b *Backend) Setup(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.families() {
		if err := b.setup(ctx, f); err != nil {
			return fmt.Errorf("iptables: setting up %s: %w", f.name, err)
		}
	}
	_, err := b.sweep(ctx)
	return err
}

func (b *Backend) families() []*family { return []*family{&b.v4, &b.v6} }

func (b *Backend) setup(ctx context.Context, f *family) error {
	l, err := b.list(ctx, f, "")
	if err != nil {
		return err
	}
	if !l.hasChain(b.chain) {
		if _, err := b.run(ctx, f, "-N", b.chain); err != nil {
			return err
		}
	}
	// Guard before jump: a jump to a chain without its guard would accept
	// nothing and drop nothing, but the order keeps the reasoning simple.
	if err := b.setupGuard(ctx, f, l.inChain(b.chain)); err != nil {
		return err
	}
	return b.setupJump(ctx, f, l.inChain("INPUT"))
}

// setupGuard makes the guard rules the configured ones. A changed guard is
// appended anew before the old rules are deleted, so the ports are never
// unguarded; "-D" deletes the first rule of that text, the old one.
func (b *Backend) setupGuard(ctx context.Context, f *family, rules [][]string) error {
	var have [][]string
	for _, r := range rules {
		if isGuard(r) {
			have = append(have, r)
		}
	}
	want := guardArgs(b.protected)
	if slices.EqualFunc(have, want, slices.Equal) {
		return nil
	}
	for _, r := range want {
		if _, err := b.run(ctx, f, concat([]string{"-A", b.chain}, r...)...); err != nil {
			return err
		}
	}
	for _, r := range have {
		if _, err := b.run(ctx, f, concat([]string{"-D", b.chain}, r...)...); err != nil {
			return err
		}
	}
	return nil
}

// setupJump makes the first rule of INPUT the jump to the chain. A jump
// found lower down (another tool inserted rules above it) is replaced: the
// new one goes in at the top under the other tag, then the old ones are
// deleted by their text.
func (b *Backend) setupJump(ctx context.Context, f *family, input [][]string) error {
	a, m := jumpArgs(b.chain, jumpTag), jumpArgs(b.chain, jumpTagMoved)
	if len(input) > 0 && (slices.Equal(input[0], a) || slices.Equal(input[0], m)) {
		return nil
	}
	insert, old := a, m
	if slices.ContainsFunc(input, func(r []string) bool { return slices.Equal(r, a) }) {
		insert, old = m, a
	}
	if _, err := b.run(ctx, f, concat([]string{"-I", "INPUT", "1"}, insert...)...); err != nil {
		return err
	}
	for _, r := range input {
		if slices.Equal(r, old) {
			if _, err := b.run(ctx, f, concat([]string{"-D", "INPUT"}, old...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Uninstall removes every jump to the chain and the chain itself, grants
// and guard, in both families. The protected ports are then governed by
// the rest of the firewall again. Uninstalling what is not installed is
// not an error.
func (b *Backend) Uninstall(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, f := range b.families() {
		if err := b.uninstall(ctx, f); err != nil {
			errs = append(errs, fmt.Errorf("iptables: uninstalling from %s: %w", f.name, err))
		}
	}
	return errors.Join(errs...)
}

func (b *Backend) uninstall(ctx context.Context, f *family) error {
	l, err := b.list(ctx, f, "")
	if err != nil {
		return err
	}
	for _, r := range l.rules {
		if r.chain != b.chain && isJumpTo(r.args, b.chain) {
			if _, err := b.run(ctx, f, concat([]string{"-D", r.chain}, r.args...)...); err != nil {
				return err
			}
		}
	}
	if !l.hasChain(b.chain) {
		return nil
	}
	if _, err := b.run(ctx, f, "-F", b.chain); err != nil {
		return err
	}
	_, err = b.run(ctx, f, "-X", b.chain)
	return err
}

// list runs "iptables -S [chain]" and parses it.
func (b *Backend) list(ctx context.Context, f *family, chain string) (listing, error) {
	args := []string{"-S"}
	if chain != "" {
		args = append(args, chain)
	}
	out, err := b.run(ctx, f, args...)
	if err != nil {
		return listing{}, err
	}
	return parseListing(out)
}
