package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/replay"
)

// cacheClaims is the local replay cache as the engine's Claims: check and
// record under one lock.
type cacheClaims struct {
	mu       sync.Mutex
	c        *replay.Cache
	readOnly bool // -decode: ask, never record
}

func (cc *cacheClaims) Claim(_ context.Context, id knock.ReplayID, until time.Time) (bool, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.c.Seen(replay.ID(id)) {
		return false, nil
	}
	if cc.readOnly {
		return true, nil
	}
	if err := cc.c.Add(replay.ID(id), until); err != nil {
		return false, err
	}
	return true, nil
}
