package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claim claims a knock's replay ID until the knock's validity ends: fresh
// is true for exactly one claimant in the fleet (within the guarantees of
// docs/fleet.md), and the knock may be granted only then.
//
// Claim returns when Redis answers or ctx ends, whichever is first: give
// it a deadline. It is safe for concurrent use; an engine that must keep
// knocks in order calls it from one worker, in order, off the packet path:
// each call's answer is final, so slow Redis delays decisions but never
// reorders or loses them.
//
// With mode refuse an unreachable Redis gives an error wrapping
// ErrUnavailable: refuse the knock. With mode local the gate decides alone
// until Run finds Redis again and writes the local claims back. Either way,
// after a failure Claim stops asking Redis until Run has reached it again:
// a gate that claims must also Run.
func (f *Fleet) Claim(ctx context.Context, id [32]byte, until time.Time) (fresh bool, err error) {
	f.stats.claims.Add(1)
	now := f.cfg.Now()
	if !until.After(now) {
		f.stats.claimErrors.Add(1)
		return false, fmt.Errorf("claim until %s: not after now %s", until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	f.mu.Lock()
	known := f.local[id] > now.UnixMilli()
	down := f.down
	f.mu.Unlock()
	if known {
		f.stats.replayed.Add(1)
		return false, nil
	}
	if !down {
		fresh, err = f.claimRedis(ctx, id, until)
		if err == nil {
			// Claimed here or elsewhere, the ID stays claimed until its
			// time is over: remember it either way, so that a replayed
			// knock flooding this gate costs Redis one command, not one
			// per packet.
			f.remember(id, until, false)
			return f.tally(fresh), nil
		}
		if errors.Is(err, ErrNotReplicated) {
			f.stats.notReplicated.Add(1)
			f.stats.claimErrors.Add(1)
			// Stored on the primary all the same: remember it here.
			f.remember(id, until, false)
			return false, err
		}
		f.markDown(err)
	}
	if f.cfg.OnFailure != Local {
		f.stats.claimErrors.Add(1)
		if err == nil {
			err = errors.New("waiting for redis to come back")
		}
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	f.stats.local.Add(1)
	if !f.remember(id, until, true) {
		f.stats.claimErrors.Add(1)
		return false, fmt.Errorf("%w: local claim cache full (%d claims)", ErrUnavailable, f.cfg.LocalMax)
	}
	return f.tally(true), nil
}

func (f *Fleet) tally(fresh bool) bool {
	if fresh {
		f.stats.fresh.Add(1)
	} else {
		f.stats.replayed.Add(1)
	}
	return fresh
}

// claimRedis is SET key gate NX PXAT until, followed by WAIT on the same
// connection when replicas must acknowledge.
func (f *Fleet) claimRedis(ctx context.Context, id [32]byte, until time.Time) (bool, error) {
	key := f.claimKey(id)
	args := redis.SetArgs{Mode: "NX", ExpireAt: until}
	if f.cfg.Replicas == 0 {
		err := f.rdb.SetArgs(ctx, key, f.cfg.Gate, args).Err()
		if errors.Is(err, redis.Nil) {
			return false, nil
		}
		return err == nil, err
	}
	// A pipeline runs on one connection, which WAIT needs.
	pipe := f.rdb.Pipeline()
	set := pipe.SetArgs(ctx, key, f.cfg.Gate, args)
	wait := pipe.Do(ctx, "WAIT", f.cfg.Replicas, f.cfg.ReplicaTimeout.Milliseconds())
	_, err := pipe.Exec(ctx)
	if err := set.Err(); errors.Is(err, redis.Nil) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err != nil {
		return false, err
	}
	if n, err := wait.Int64(); err != nil {
		return false, err
	} else if n < int64(f.cfg.Replicas) {
		return false, fmt.Errorf("%w: %d of %d", ErrNotReplicated, n, f.cfg.Replicas)
	}
	return true, nil
}

// remember adds a claim to the local cache (and, when decided locally, to
// the claims to write back). It reports false when the cache is full.
func (f *Fleet) remember(id [32]byte, until time.Time, pending bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.local) >= f.cfg.LocalMax {
		now := f.cfg.Now().UnixMilli()
		for k, u := range f.local {
			if u <= now {
				delete(f.local, k)
			}
		}
		if len(f.local) >= f.cfg.LocalMax {
			if pending {
				return false
			}
			for k := range f.local { // drop any one remembered claim: Redis has it
				if _, p := f.pending[k]; !p {
					delete(f.local, k)
					break
				}
			}
		}
	}
	f.local[id] = until.UnixMilli()
	if pending {
		f.pending[id] = until.UnixMilli()
	}
	return true
}

// reconcile writes the claims decided during an outage back to Redis. A
// claim another gate made too while they could not see each other is a
// conflict: both granted the same knock. It is counted and logged; from
// now on every gate refuses the ID.
func (f *Fleet) reconcile(ctx context.Context) error {
	f.mu.Lock()
	todo := f.pending
	f.pending = map[[32]byte]int64{}
	f.mu.Unlock()
	now := f.cfg.Now().UnixMilli()
	type result struct {
		id  [32]byte
		set *redis.StatusCmd
		get *redis.StringCmd
	}
	var rs []result
	pipe := f.rdb.Pipeline()
	for id, until := range todo {
		if until <= now {
			continue
		}
		key := f.claimKey(id)
		rs = append(rs, result{id, pipe.SetArgs(ctx, key, f.cfg.Gate, redis.SetArgs{Mode: "NX", ExpireAt: time.UnixMilli(until)}), pipe.Get(ctx, key)})
	}
	if len(rs) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		f.mu.Lock()
		for id, u := range todo { // try again next time
			f.pending[id] = u
		}
		f.mu.Unlock()
		return err
	}
	conflicts := 0
	for _, r := range rs {
		f.stats.reconciled.Add(1)
		if r.set.Err() == nil {
			continue
		}
		if owner := r.get.Val(); owner != f.cfg.Gate {
			conflicts++
			f.stats.conflicts.Add(1)
			f.log("knock granted here and at another gate while redis was unreachable", "other", owner, "claim", f.claimKey(r.id))
		}
	}
	f.log("local claims written back to redis", "claims", len(rs), "conflicts", conflicts)
	return nil
}
