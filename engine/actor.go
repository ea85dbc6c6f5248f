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
	run    func()    // a stateful protocol's own action, after the grants
}

// actor claims and applies decisions in their own goroutine, in the order
// they were made, so that neither a slow replay store nor a slow firewall
// ever stalls the decision path. It also keeps the grants it made, to
// tell an opened grant from an extended one and to log when one ends.
type actor struct {
	fwMu    sync.Mutex
	fw      Firewall
	claims  Claims
	log     *slog.Logger
	m       *Metrics
	now     func() time.Time
	queue   chan decision
	limiter *logLimiter // the actor's own: the decision loop owns the other
	granted func(Grant) // nil, or told of every grant opened

	mu     sync.Mutex
	grants map[grantKey]Grant

	listMu   sync.Mutex // guards the count of the firewall's grants, cached
	listN    int
	listOK   bool
	listWhen time.Time // when the cached list was read
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

// lister is a firewall that lists the grants in force, as every
// firewall.Backend does; the fakes of some tests do not.
type lister interface {
	Grants(ctx context.Context) ([]firewall.Grant, error)
}

const (
	// listCache is how long the firewall's list of grants serves the
	// "grants open" gauge before it is read again; listTimeout bounds a
	// reading, so a stuck firewall cannot stall a scrape.
	listCache   = 2 * time.Second
	listTimeout = 2 * time.Second
	// endedEvery is how often the grants the actor made are compared with
	// the firewall's, to log the ones that ended.
	endedEvery = 5 * time.Second
)

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
		a.m.actionsDropped.Inc()
		a.log.Error("knock dropped: the firewall or the replay cache is not keeping up", "protocol", d.req.Protocol, "user", d.req.User, "client", d.req.Client, "port", d.req.Port)
	}
}

// run applies decisions until ctx ends, then those already queued.
func (a *actor) run(ctx context.Context) {
	t := time.NewTicker(endedEvery)
	defer t.Stop()
	for {
		select {
		case d := <-a.queue:
			a.apply(d)
		case <-t.C:
			a.checkEnded()
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
			a.m.reject(req.Protocol, knock.ReasonReplay, req)
			a.log.Error("knock refused: the replay cache cannot record it", "protocol", req.Protocol, "src", d.src, "err", err)
			return
		}
		if !fresh {
			a.m.reject(req.Protocol, knock.ReasonReplay, req)
			if a.limiter.allow() {
				a.log.Warn("knock rejected", "protocol", req.Protocol, "reason", knock.ReasonReplay, "user", req.User, "src", d.src, "err", errReplayed)
			}
			return
		}
	}
	a.m.accept(req)
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
			a.change(ctx, d, g)
		}
	}
}

func (a *actor) change(ctx context.Context, d decision, g firewall.Grant) {
	a.fwMu.Lock()
	fw := a.fw
	a.fwMu.Unlock()
	req := d.req
	port := knock.Port{Proto: g.Proto, Port: g.Port}.String()
	var err error
	if req.Close {
		err = fw.Close(ctx, g)
	} else {
		err = fw.Open(ctx, g)
	}
	if err != nil {
		a.m.reject(req.Protocol, knock.ReasonFirewall, req)
		a.log.Error("firewall change failed", "user", req.User, "client", g.Addr, "port", port, "close", req.Close, "err", err)
		return
	}
	a.m.change.Observe(a.now().Sub(d.at).Seconds())
	k := grantKey{g.Addr, g.Proto, g.Port}
	now := a.now()
	a.mu.Lock()
	old, had := a.grants[k]
	had = had && now.Before(old.Expires)
	if req.Close {
		delete(a.grants, k)
	} else {
		a.grants[k] = Grant{User: req.User, Protocol: req.Protocol, Addr: g.Addr, Port: knock.Port{Proto: g.Proto, Port: g.Port}, Opened: now, Expires: now.Add(g.Duration)}
	}
	granted := a.grants[k]
	a.mu.Unlock()
	if a.granted != nil && !req.Close {
		a.granted(granted)
	}
	// One line per grant a valid knock makes: a holder of a key is no
	// flood, but the limit keeps one from becoming one.
	if !a.limiter.allow() {
		return
	}
	switch {
	case req.Close:
		a.log.Info("grant closed by a closing knock", "protocol", req.Protocol, "user", req.User, "client", g.Addr, "port", port)
	case had:
		a.log.Info("grant extended by a repeated knock", "protocol", req.Protocol, "user", req.User, "client", g.Addr, "port", port, "duration", g.Duration)
	default:
		a.log.Info("grant opened", "protocol", req.Protocol, "user", req.User, "client", g.Addr, "port", port, "duration", g.Duration)
	}
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

// list returns the grants in force, oldest first (checkEnded forgets
// the ended ones, and logs them).
func (a *actor) list() []Grant {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	out := make([]Grant, 0, len(a.grants))
	for _, g := range a.grants {
		if now.Before(g.Expires) {
			out = append(out, g)
		}
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

// open counts the grants in force for the "grants open" gauge: as the
// firewall lists them, so that grants a previous run made count too,
// read at most every listCache; as the actor made them when the firewall
// cannot list them.
func (a *actor) open() float64 {
	a.listMu.Lock()
	defer a.listMu.Unlock()
	if now := a.now(); a.listWhen.IsZero() || now.Sub(a.listWhen) >= listCache || now.Before(a.listWhen) {
		grants, err := a.fwList()
		a.listN, a.listOK, a.listWhen = len(grants), err == nil, now
	}
	if a.listOK {
		return float64(a.listN)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n, now := 0, a.now()
	for _, gi := range a.grants {
		if now.Before(gi.Expires) {
			n++
		}
	}
	return float64(n)
}

var errNoList = errors.New("the firewall cannot list its grants")

// fwList reads the firewall's grants.
func (a *actor) fwList() ([]firewall.Grant, error) {
	a.fwMu.Lock()
	l, ok := a.fw.(lister)
	a.fwMu.Unlock()
	if !ok {
		return nil, errNoList
	}
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	return l.Grants(ctx)
}

// checkEnded logs the grants the actor made that ended: those the
// firewall no longer lists (it ended them on time, or someone removed
// them), or, when it cannot list them, those whose time is up. It runs
// in the actor's goroutine, after every change so far, so a grant just
// opened is in the list it reads.
func (a *actor) checkEnded() {
	a.mu.Lock()
	none := len(a.grants) == 0
	a.mu.Unlock()
	if none {
		return // nothing to compare: spare a firewall that lists by running a program
	}
	grants, err := a.fwList()
	listed := err == nil
	if err != nil && !errors.Is(err, errNoList) && a.limiter.allow() {
		a.log.Warn("cannot list the firewall's grants to see which ended", "err", err)
	}
	in := make(map[grantKey]bool, len(grants))
	for _, g := range grants {
		in[grantKey{g.Addr.Unmap(), g.Proto, g.Port}] = true
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, gi := range a.grants {
		if (listed && in[k]) || (!listed && now.Before(gi.Expires)) {
			continue
		}
		delete(a.grants, k)
		if a.limiter.allow() {
			a.log.Info("grant ended", "protocol", gi.Protocol, "user", gi.User, "client", k.addr,
				"port", knock.Port{Proto: k.proto, Port: k.port}.String(), "on_time", !now.Before(gi.Expires))
		}
	}
}
