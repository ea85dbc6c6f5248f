package engine

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
)

// decision is a knock that passed every check but the replay claim, with
// the grants it makes.
type decision struct {
	req    knock.Request
	src    netip.Addr
	grants []firewall.Grant
	at     time.Time // when the deciding packet was handled
	claim  bool      // claim req.ReplayID before acting
	dryRun bool      // log, act on nothing
	run    func()    // a stateful protocol's own action, after the grants
}

// actor claims and applies decisions in their own goroutine, in the order
// they were made, so that neither a slow replay store nor a slow firewall
// ever stalls the decision path. It also keeps the grants it made, for the
// "grants open" gauge.
type actor struct {
	fwMu    sync.Mutex
	fw      Firewall
	claims  Claims
	log     *slog.Logger
	m       *Metrics
	now     func() time.Time
	queue   chan decision
	limiter *logLimiter // the actor's own: the decision loop owns the other

	mu     sync.Mutex
	grants map[grantKey]time.Time // expiry
}

type grantKey struct {
	addr  netip.Addr
	proto knock.Proto
	port  uint16
}

func newActor(fw Firewall, claims Claims, log *slog.Logger, m *Metrics, now func() time.Time) *actor {
	a := &actor{fw: fw, claims: claims, log: log, m: m, now: now, queue: make(chan decision, 1024),
		grants: map[grantKey]time.Time{}, limiter: newLogLimiter(now, 20)}
	m.setGrants(a.open)
	return a
}

// submit queues a decision; when the queue is full it is dropped and
// counted (dropping an open is safe; a dropped close ends on time).
func (a *actor) submit(d decision) {
	select {
	case a.queue <- d:
	default:
		a.m.ActionsDropped.Inc()
		a.log.Error("knock dropped: the firewall or the replay cache is not keeping up", "client", d.req.Client, "port", d.req.Port)
	}
}

// run applies decisions until ctx ends, then those already queued.
func (a *actor) run(ctx context.Context) {
	for {
		select {
		case d := <-a.queue:
			a.apply(d)
		case <-ctx.Done():
			a.drain()
			return
		}
	}
}

// drain applies every queued decision now (at shutdown, and for tests,
// which call Handle without Run).
func (a *actor) drain() {
	for {
		select {
		case d := <-a.queue:
			a.apply(d)
		default:
			return
		}
	}
}

func (a *actor) apply(d decision) {
	// The change must happen even while the daemon stops: a fresh context
	// with its own limit.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req := d.req
	if d.claim {
		fresh, err := a.claims.Claim(ctx, req.ReplayID, req.ReplayUntil)
		if err != nil {
			// Fail closed: a knock that could not be remembered could be
			// replayed, so it opens nothing.
			a.m.rejected(knock.ReasonReplay).Inc()
			a.log.Error("knock refused: the replay cache cannot record it", "protocol", req.Protocol, "src", d.src, "err", err)
			return
		}
		if !fresh {
			a.m.rejected(knock.ReasonReplay).Inc()
			if a.limiter.allow() {
				a.log.Warn("knock rejected", "protocol", req.Protocol, "reason", knock.ReasonReplay, "src", d.src, "err", errReplayed)
			}
			return
		}
	}
	a.m.Accepted.Inc()
	if len(d.grants) == 0 {
		a.log.Info("knock accepted", "protocol", req.Protocol, "user", req.User, "action", "run", "src", d.src, "dry_run", d.dryRun)
	}
	defer func() {
		if d.run != nil && !d.dryRun {
			d.run()
		}
	}()
	verb := "open"
	if req.Close {
		verb = "close"
	}
	for _, g := range d.grants {
		a.log.Info("knock accepted", "protocol", req.Protocol, "user", req.User, "action", verb, "src", d.src, "client", g.Addr,
			"port", knock.Port{Proto: g.Proto, Port: g.Port}.String(), "duration", g.Duration, "dry_run", d.dryRun)
		if !d.dryRun {
			a.change(ctx, g, req.Close, d.at)
		}
	}
}

func (a *actor) change(ctx context.Context, g firewall.Grant, close bool, at time.Time) {
	a.fwMu.Lock()
	fw := a.fw
	a.fwMu.Unlock()
	var err error
	if close {
		err = fw.Close(ctx, g)
	} else {
		err = fw.Open(ctx, g)
	}
	if err != nil {
		a.m.rejected(knock.ReasonFirewall).Inc()
		a.log.Error("firewall change failed", "client", g.Addr, "port", knock.Port{Proto: g.Proto, Port: g.Port}.String(), "close", close, "err", err)
		return
	}
	a.m.Latency.observe(a.now().Sub(at))
	k := grantKey{g.Addr, g.Proto, g.Port}
	a.mu.Lock()
	if close {
		delete(a.grants, k)
	} else {
		a.grants[k] = a.now().Add(g.Duration)
	}
	a.mu.Unlock()
}

// setFirewall swaps the backend for the changes that follow.
func (a *actor) setFirewall(fw Firewall) {
	a.fwMu.Lock()
	a.fw = fw
	a.fwMu.Unlock()
}

// open counts the grants in force, forgetting expired ones.
func (a *actor) open() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	for k, exp := range a.grants {
		if !now.Before(exp) {
			delete(a.grants, k)
		}
	}
	return float64(len(a.grants))
}
