package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/engine"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/fleet"
)

// A fleet's gates share replay claims and grants through Redis (package
// fleet, docs/fleet.md). The engine knows nothing of it: the claims it
// makes go to both caches, and the grants it opens are published.

// chainClaims is fresh only when every store says so: the local replay
// cache (which survives a Redis that lost its data) and the fleet.
type chainClaims []engine.Claims

func (c chainClaims) Claim(ctx context.Context, id knock.ReplayID, until time.Time) (bool, error) {
	fresh := true
	for _, s := range c {
		f, err := s.Claim(ctx, id, until)
		if err != nil {
			return false, err
		}
		fresh = fresh && f
	}
	return fresh, nil
}

// fleetClaims gives a claim the fleet's own deadline: a slow Redis delays
// a decision, within bounds, and never blocks the actor for good.
type fleetClaims struct{ f *fleet.Fleet }

func (c fleetClaims) Claim(ctx context.Context, id knock.ReplayID, until time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.f.Claim(ctx, id, until)
}

// publisher sends the grants this gate opens to the fleet, from a
// goroutine of its own: the actor only drops them in a queue.
type publisher struct {
	f     *fleet.Fleet
	log   *slog.Logger
	queue chan engine.Grant
}

func newPublisher(f *fleet.Fleet, log *slog.Logger) *publisher {
	return &publisher{f: f, log: log, queue: make(chan engine.Grant, 1024)}
}

// granted is the engine's hook: it never blocks.
func (p *publisher) granted(g engine.Grant) {
	select {
	case p.queue <- g:
	default:
		p.log.Error("fleet: grant not published, the queue is full (Redis slow or unreachable)", "user", g.User, "client", g.Addr, "port", g.Port.String())
	}
}

func (p *publisher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case g := <-p.queue:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := p.f.Publish(pctx, fleet.Grant{User: g.User, Addr: g.Addr, Proto: g.Port.Proto, Port: g.Port.Port, Until: g.Expires})
			cancel()
			if err != nil && ctx.Err() == nil {
				p.log.Warn("fleet: grant not published; the other gates will not open it", "user", g.User, "client", g.Addr, "port", g.Port.String(), "err", err)
			}
		}
	}
}

// fleetGrants lists the fleet's grants, with the gate that accepted each.
func (d *Daemon) fleetGrants(ctx context.Context) ([]GrantInfo, error) {
	gs, err := d.fleet.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]GrantInfo, 0, len(gs))
	for _, g := range gs {
		out = append(out, GrantInfo{User: g.User, Addr: g.Addr.String(), Port: knock.Port{Proto: g.Proto, Port: g.Port}.String(), Opened: g.Issued, Expires: g.Until, Gate: g.Gate})
	}
	return out, nil
}

// currentFirewall is the daemon's firewall as it is now, for the fleet's
// grant feed: a reload may replace the backend.
type currentFirewall struct{ d *Daemon }

func (c currentFirewall) Open(ctx context.Context, g firewall.Grant) error {
	return c.d.firewall().Open(ctx, g)
}

func (c currentFirewall) Close(ctx context.Context, g firewall.Grant) error {
	return c.d.firewall().Close(ctx, g)
}

func (d *Daemon) firewall() firewall.Backend {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fw
}
