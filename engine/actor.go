package engine

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/portknock/knock/firewall"
)

// action is one firewall change.
type action struct {
	grant firewall.Grant
	close bool
	at    time.Time
}

// actor applies firewall changes in their own goroutine, in order, so a
// slow backend never stalls the decision path. It also keeps the grants it
// made, for the "grants open" gauge.
type actor struct {
	fwMu  sync.Mutex
	fw    firewall.Backend
	log   *slog.Logger
	m     *Metrics
	now   func() time.Time
	queue chan action

	mu     sync.Mutex
	grants map[grantKey]time.Time // expiry
}

type grantKey struct {
	addr  string
	proto string
	port  uint16
}

func newActor(fw firewall.Backend, log *slog.Logger, m *Metrics, now func() time.Time) *actor {
	a := &actor{fw: fw, log: log, m: m, now: now, queue: make(chan action, 1024), grants: map[grantKey]time.Time{}}
	m.setGrants(a.open)
	return a
}

// submit queues a change; when the queue is full the change is dropped
// and counted (dropping an open is safe; a dropped close ends on time).
func (a *actor) submit(act action) {
	select {
	case a.queue <- act:
	default:
		a.m.ActionsDropped.Inc()
		a.log.Error("firewall change dropped: the firewall is not keeping up", "client", act.grant.Addr, "port", act.grant.Port)
	}
}

// run applies changes until ctx ends, then those already queued.
func (a *actor) run(ctx context.Context) {
	for {
		select {
		case act := <-a.queue:
			a.apply(act)
		case <-ctx.Done():
			for {
				select {
				case act := <-a.queue:
					a.apply(act)
				default:
					return
				}
			}
		}
	}
}

func (a *actor) apply(act action) {
	g := act.grant
	// The change must happen even while the daemon stops: a fresh context
	// with its own limit.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	k := grantKey{g.Addr.String(), g.Proto, g.Port}
	a.fwMu.Lock()
	fw := a.fw
	a.fwMu.Unlock()
	var err error
	if act.close {
		err = fw.Close(ctx, g)
	} else {
		err = fw.Open(ctx, g)
	}
	if err != nil {
		a.m.rejected(ReasonFirewall).Inc()
		a.log.Error("firewall change failed", "client", g.Addr, "port", g.Port, "proto", g.Proto, "close", act.close, "err", err)
		return
	}
	a.m.Latency.observe(a.now().Sub(act.at))
	a.mu.Lock()
	if act.close {
		delete(a.grants, k)
	} else {
		a.grants[k] = a.now().Add(g.Duration)
	}
	a.mu.Unlock()
}

// setFirewall swaps the backend for the changes that follow.
func (a *actor) setFirewall(fw firewall.Backend) {
	a.fwMu.Lock()
	a.fw = fw
	a.fwMu.Unlock()
}

// drain applies every queued change now (for tests, which call Handle
// without Run).
func (a *actor) drain() {
	for {
		select {
		case act := <-a.queue:
			a.apply(act)
		default:
			return
		}
	}
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
