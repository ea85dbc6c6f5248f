package engine

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
)

// decision is a knock that passed every check but the replay claim, with
// the grants it makes.
type decision struct {
	revoke *revocation // not a knock: end the grants it matches
	req    knock.Request
	src    netip.Addr
	grants []firewall.Grant
	at     time.Time // when the deciding packet was handled
	claim  bool      // claim req.ReplayID before acting
	dryRun bool      // log, act on nothing
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
	grants map[grantKey]Grant
}

// Grant is one grant the engine made and that is still in force.
type Grant struct {
	User     string
	Protocol knock.Protocol
	Addr     netip.Addr
	Port     knock.Port
	Opened   time.Time
	Expires  time.Time
}

// revocation ends every grant match selects, in order with the decisions
// queued before it.
type revocation struct {
	match func(Grant) bool
	done  chan revoked
}

type revoked struct {
	n   int
	err error
}

type grantKey struct {
	addr  netip.Addr
	proto knock.Proto
	port  uint16
}

func newActor(fw Firewall, claims Claims, log *slog.Logger, m *Metrics, now func() time.Time) *actor {
	a := &actor{fw: fw, claims: claims, log: log, m: m, now: now, queue: make(chan decision, 1024),
		grants: map[grantKey]Grant{}, limiter: newLogLimiter(now, 20)}
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
	if d.revoke != nil {
		d.revoke.done <- a.revokeNow(ctx, d.revoke.match)
		return
	}
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
	verb := "open"
	if req.Close {
		verb = "close"
	}
	for _, g := range d.grants {
		a.log.Info("knock accepted", "protocol", req.Protocol, "user", req.User, "action", verb, "src", d.src, "client", g.Addr,
			"port", knock.Port{Proto: g.Proto, Port: g.Port}.String(), "duration", g.Duration, "dry_run", d.dryRun)
		if !d.dryRun {
			a.change(ctx, g, req, d.at)
		}
	}
}

func (a *actor) change(ctx context.Context, g firewall.Grant, req knock.Request, at time.Time) {
	close := req.Close
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
		now := a.now()
		a.grants[k] = Grant{User: req.User, Protocol: req.Protocol, Addr: g.Addr, Port: knock.Port{Proto: g.Proto, Port: g.Port}, Opened: now, Expires: now.Add(g.Duration)}
	}
	a.mu.Unlock()
}

// revokeNow closes every grant in force that match selects.
func (a *actor) revokeNow(ctx context.Context, match func(Grant) bool) revoked {
	var out revoked
	for _, g := range a.list() {
		if !match(g) {
			continue
		}
		a.fwMu.Lock()
		fw := a.fw
		a.fwMu.Unlock()
		if err := fw.Close(ctx, firewall.Grant{Addr: g.Addr, Proto: g.Port.Proto, Port: g.Port.Port}); err != nil {
			out.err = errors.Join(out.err, err)
			continue
		}
		a.mu.Lock()
		delete(a.grants, grantKey{g.Addr, g.Port.Proto, g.Port.Port})
		a.mu.Unlock()
		a.log.Info("grant revoked", "user", g.User, "client", g.Addr, "port", g.Port.String())
		out.n++
	}
	return out
}

// list returns the grants in force, oldest first, forgetting expired ones.
func (a *actor) list() []Grant {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	out := make([]Grant, 0, len(a.grants))
	for k, g := range a.grants {
		if !now.Before(g.Expires) {
			delete(a.grants, k)
			continue
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(x, y Grant) int { return x.Opened.Compare(y.Opened) })
	return out
}

// setFirewall swaps the backend for the changes that follow.
func (a *actor) setFirewall(fw Firewall) {
	a.fwMu.Lock()
	a.fw = fw
	a.fwMu.Unlock()
}

// open counts the grants in force.
func (a *actor) open() float64 { return float64(len(a.list())) }
