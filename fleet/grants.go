package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/redis/go-redis/v9"
)

// Publish signs g (Gate and Issued are set to this gate and now) and sends
// it to every gate of the group: into the group's event stream, and into
// its live set for gates that start or reconnect later. Call it after the
// knock is granted here. When Redis cannot be reached the grant is kept
// and sent by Run when Redis is back; the error says so.
func (f *Fleet) Publish(ctx context.Context, g Grant) error {
	now := f.cfg.Now()
	g.Gate, g.Issued = f.cfg.Gate, now
	if g.Until.After(now.Add(f.cfg.MaxGrant)) {
		return fmt.Errorf("grant until %s: longer than the fleet's max grant %s", g.Until.UTC().Format(time.RFC3339), f.cfg.MaxGrant)
	}
	b, err := seal(f.cfg.Key, f.grantMessage(g))
	if err != nil {
		return err
	}
	it := &issued{g: g}
	f.mu.Lock()
	f.issued[string(b)] = it
	f.mu.Unlock()
	if err := f.send(ctx, b, g.Until); err != nil {
		f.markDown(err)
		return fmt.Errorf("%w: grant kept, sent when redis is back: %w", ErrUnavailable, err)
	}
	f.mu.Lock()
	it.sent = true
	f.mu.Unlock()
	f.stats.published.Add(1)
	return nil
}

func (f *Fleet) grantMessage(g Grant) message {
	return message{kind: kindGrant, issued: g.Issued, until: g.Until, addr: g.Addr.Unmap(),
		proto: g.Proto, port: g.Port, fleet: f.cfg.Fleet, group: f.cfg.Group, gate: g.Gate, user: g.User}
}

// send adds one signed grant to the live set and the stream, atomically.
func (f *Fleet) send(ctx context.Context, b []byte, until time.Time) error {
	now := f.cfg.Now()
	_, err := f.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, f.keyGrants, redis.Z{Score: float64(until.UnixMilli()), Member: b})
		p.ZRemRangeByScore(ctx, f.keyGrants, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		p.PExpire(ctx, f.keyGrants, f.cfg.MaxGrant)
		f.addEvent(ctx, p, b)
		return nil
	})
	return err
}

func (f *Fleet) addEvent(ctx context.Context, p redis.Pipeliner, b []byte) {
	p.XAdd(ctx, &redis.XAddArgs{Stream: f.keyEvents, MaxLen: f.cfg.StreamLen, Approx: true, Values: []any{"m", b}})
	p.PExpire(ctx, f.keyEvents, f.cfg.MaxGrant)
}

// List returns the live grants of the group, each with the gate that
// accepted it. Entries that do not verify are skipped and counted.
func (f *Fleet) List(ctx context.Context) ([]Grant, error) {
	ms, err := f.live(ctx, f.keyGrants)
	if err != nil {
		return nil, err
	}
	var out []Grant
	for _, m := range ms {
		if m.m.kind == kindGrant {
			out = append(out, m.m.grant())
		}
	}
	return out, nil
}

type signed struct {
	m   message
	raw string
}

// live reads the members of a live set that have not expired, verified.
func (f *Fleet) live(ctx context.Context, key string) ([]signed, error) {
	now := f.cfg.Now()
	raws, err := f.rdb.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: "(" + strconv.FormatInt(now.UnixMilli(), 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, err
	}
	var out []signed
	for _, r := range raws {
		m, err := f.accept([]byte(r), now)
		if err != nil {
			f.count(err)
			continue
		}
		out = append(out, signed{m: m, raw: r})
	}
	return out, nil
}

// accept verifies a message from Redis and judges it for this gate now.
func (f *Fleet) accept(b []byte, now time.Time) (message, error) {
	m, err := open(f.cfg.Key, b)
	if err != nil {
		return m, err
	}
	if m.fleet != f.cfg.Fleet || m.group != f.cfg.Group {
		return m, fmt.Errorf("%w: fleet %q group %q", ErrForeign, m.fleet, m.group)
	}
	if m.issued.After(now.Add(f.cfg.MaxSkew)) || !m.until.After(now) || m.until.Sub(m.issued) > f.cfg.MaxGrant {
		return m, fmt.Errorf("%w: issued %s until %s", ErrStale, m.issued.UTC(), m.until.UTC())
	}
	return m, nil
}

// Revoke ends, at every gate of the group, the grants sel names that were
// issued up to now: it removes them from the live set and sends a signed
// revocation, which gates keep for MaxGrant so that one reconnecting later
// applies it too. It returns how many live grants it removed.
func (f *Fleet) Revoke(ctx context.Context, sel Selector) (int, error) {
	now := f.cfg.Now()
	m := message{kind: kindRevoke, issued: now, until: now.Add(f.cfg.MaxGrant), addr: sel.Addr.Unmap(),
		fleet: f.cfg.Fleet, group: f.cfg.Group, gate: f.cfg.Gate, user: sel.User}
	if sel.User != "" && sel.Addr.IsValid() {
		return 0, fmt.Errorf("revoke user %q and address %s: name one of them", sel.User, sel.Addr)
	}
	b, err := seal(f.cfg.Key, m)
	if err != nil {
		return 0, fmt.Errorf("revoke %s: %w", sel, err)
	}
	live, err := f.live(ctx, f.keyGrants)
	if err != nil {
		return 0, err
	}
	var gone []any
	for _, g := range live {
		if g.m.kind == kindGrant && covers(m, g.m) {
			gone = append(gone, g.raw)
		}
	}
	_, err = f.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if len(gone) > 0 {
			p.ZRem(ctx, f.keyGrants, gone...)
		}
		p.ZAdd(ctx, f.keyRevoked, redis.Z{Score: float64(m.until.UnixMilli()), Member: b})
		p.ZRemRangeByScore(ctx, f.keyRevoked, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		p.PExpire(ctx, f.keyRevoked, f.cfg.MaxGrant)
		f.addEvent(ctx, p, b)
		return nil
	})
	if err != nil {
		return 0, err
	}
	f.stats.revocations.Add(1)
	return len(gone), nil
}

// covers reports whether revocation r ends grant g.
func covers(r, g message) bool {
	return !g.issued.After(r.issued) && r.selector().matches(g.grant())
}

// Run keeps this gate in step with its group until ctx ends: it opens
// through fw the grants other gates publish (with the time they have
// left), closes what revocations end, and, whenever it (re)connects,
// applies the live set, sends the grants it could not send, and writes
// back claims decided alone. Run calls fw from its one goroutine, in the
// order of the stream.
func (f *Fleet) Run(ctx context.Context, fw Firewall) error {
	backoff := 100 * time.Millisecond
	for {
		err := f.session(ctx, fw)
		if ctx.Err() != nil {
			return nil
		}
		f.markDown(err)
		f.cfg.Logger.Debug("fleet session ended", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
		if !f.Down() {
			backoff = 100 * time.Millisecond
		}
	}
}

// session syncs with Redis and then follows the stream until an error.
func (f *Fleet) session(ctx context.Context, fw Firewall) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.mu.Lock()
	f.wake = cancel
	f.mu.Unlock()
	if err := f.rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	// Remember where the stream ends before reading the live sets: what
	// comes after is read from the stream, perhaps twice (harmless).
	last := "0-0"
	xs, err := f.rdb.XRevRangeN(ctx, f.keyEvents, "+", "-", 1).Result()
	if err != nil {
		return err
	}
	if len(xs) == 1 {
		last = xs[0].ID
	}
	revs, err := f.live(ctx, f.keyRevoked)
	if err != nil {
		return err
	}
	for _, r := range revs {
		if r.m.kind == kindRevoke {
			f.revoke(ctx, fw, r.raw, r.m)
		}
	}
	if err := f.resend(ctx); err != nil {
		return err
	}
	grants, err := f.live(ctx, f.keyGrants)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if g.m.kind == kindGrant {
			f.grant(ctx, fw, g.raw, g.m, true)
		}
	}
	f.mu.Lock()
	f.syncs++
	f.mu.Unlock()
	if f.Down() {
		if err := f.reconcile(ctx); err != nil {
			return err
		}
		f.mu.Lock()
		f.down = false
		f.mu.Unlock()
		f.log("redis reachable again: claims go to redis")
	}
	pruned := f.cfg.Now()
	for !f.Down() {
		if now := f.cfg.Now(); now.Sub(pruned) > 10*time.Second {
			f.prune(now)
			pruned = now
		}
		streams, err := f.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{f.keyEvents, last}, Count: 100, Block: 2 * time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return err
		}
		for _, s := range streams {
			for _, x := range s.Messages {
				last = x.ID
				f.event(ctx, fw, x.Values["m"])
			}
		}
	}
	return errors.New("a claim found redis unreachable")
}

// resend re-adds the live grants this gate issued (Redis may have lost
// them, or never had them) to the live set, and to the stream those it
// never sent.
func (f *Fleet) resend(ctx context.Context) error {
	now := f.cfg.Now()
	f.mu.Lock()
	var todo []string
	for raw, it := range f.issued {
		if !it.g.Until.After(now) {
			delete(f.issued, raw)
			continue
		}
		todo = append(todo, raw)
	}
	f.mu.Unlock()
	for _, raw := range todo {
		f.mu.Lock()
		it := f.issued[raw]
		f.mu.Unlock()
		if it == nil {
			continue
		}
		var err error
		if it.sent {
			err = f.rdb.ZAdd(ctx, f.keyGrants, redis.Z{Score: float64(it.g.Until.UnixMilli()), Member: raw}).Err()
		} else if err = f.send(ctx, []byte(raw), it.g.Until); err == nil {
			f.stats.published.Add(1)
		}
		if err != nil {
			return err
		}
		f.mu.Lock()
		it.sent = true
		f.mu.Unlock()
	}
	return nil
}

func (f *Fleet) event(ctx context.Context, fw Firewall, v any) {
	s, ok := v.(string)
	if !ok {
		f.stats.malformed.Add(1)
		return
	}
	m, err := f.accept([]byte(s), f.cfg.Now())
	if err != nil {
		f.count(err)
		return
	}
	switch m.kind {
	case kindGrant:
		f.grant(ctx, fw, s, m, false)
	case kindRevoke:
		f.revoke(ctx, fw, s, m)
	}
}

// grant opens a verified grant here, unless this gate issued it (it is
// already open: the engine opened it) or a known revocation covers it.
func (f *Fleet) grant(ctx context.Context, fw Firewall, raw string, m message, resync bool) {
	f.mu.Lock()
	_, done := f.applied[raw]
	_, mine := f.issued[raw]
	for _, r := range f.revoked {
		if covers(r, m) {
			done = true
		}
	}
	f.mu.Unlock()
	if done || (mine && !resync) {
		return
	}
	left := m.until.Sub(f.cfg.Now())
	if left <= 0 {
		return
	}
	g := m.grant()
	if err := fw.Open(ctx, firewall.Grant{Addr: g.Addr, Proto: g.Proto, Port: g.Port, Duration: left}); err != nil {
		f.stats.applyErrors.Add(1)
		f.log("firewall refused a fleet grant", "addr", g.Addr, "port", knock.Port{Proto: g.Proto, Port: g.Port}, "error", err)
		return
	}
	f.stats.applied.Add(1)
	f.mu.Lock()
	f.applied[raw] = g
	f.mu.Unlock()
}

// revoke remembers a revocation and closes what it covers here.
func (f *Fleet) revoke(ctx context.Context, fw Firewall, raw string, r message) {
	now := f.cfg.Now()
	var close []Grant
	f.mu.Lock()
	f.revoked[raw] = r
	for k, x := range f.revoked {
		if !x.until.After(now) {
			delete(f.revoked, k)
		}
	}
	for k, g := range f.applied {
		if !g.Until.After(now) {
			delete(f.applied, k)
		} else if covers(r, f.grantMessage(g)) {
			delete(f.applied, k)
			close = append(close, g)
		}
	}
	for k, it := range f.issued {
		if covers(r, f.grantMessage(it.g)) {
			delete(f.issued, k)
			close = append(close, it.g)
		}
	}
	f.mu.Unlock()
	for _, g := range close {
		if err := fw.Close(ctx, firewall.Grant{Addr: g.Addr, Proto: g.Proto, Port: g.Port}); err != nil {
			f.stats.applyErrors.Add(1)
			f.log("firewall refused to close a revoked grant", "addr", g.Addr, "error", err)
			continue
		}
		f.stats.closed.Add(1)
	}
}

// prune forgets grants and revocations whose time is over, so the gate's
// memory follows the live grants, not all it ever saw.
func (f *Fleet) prune(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, g := range f.applied {
		if !g.Until.After(now) {
			delete(f.applied, k)
		}
	}
	for k, it := range f.issued {
		if !it.g.Until.After(now) {
			delete(f.issued, k)
		}
	}
	for k, r := range f.revoked {
		if !r.until.After(now) {
			delete(f.revoked, k)
		}
	}
	ms := now.UnixMilli()
	for k, u := range f.local {
		if u <= ms {
			delete(f.local, k)
		}
	}
}

// Firewall is where a gate applies the fleet's grants and revocations:
// its own firewall backend (firewall.Backend has these and more).
type Firewall interface {
	Open(ctx context.Context, g firewall.Grant) error
	Close(ctx context.Context, g firewall.Grant) error
}
