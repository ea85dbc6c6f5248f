package daemon

import (
	"context"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/replay"
)

// localClaims is the local replay cache as the engine's Claims.
type localClaims struct{ c *replay.Cache }

func (l localClaims) Claim(_ context.Context, id knock.ReplayID, until time.Time) (bool, error) {
	return l.c.Claim(replay.ID(id), until)
}
