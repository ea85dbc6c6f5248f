package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/metrics"
	"github.com/portknock/knock/tracker"
)

// Metrics are the engine's counters, registered in a metrics.Registry.
type Metrics struct {
	Hits, OutsideSpan, Accepted, ActionsDropped *metrics.Counter
	Throttled, Shed                             *metrics.Counter

	reg      *metrics.Registry
	rejects  *metrics.CounterVec
	byReason map[knock.Reason]*metrics.Counter
	Latency  *latency

	// The tracker belongs to the decision loop; it publishes its sizes
	// here once a second for scrapes from other goroutines.
	probation, active, evicted atomic.Uint64
}

func (m *Metrics) publishTracker(s tracker.Stats) {
	m.probation.Store(s.Probation)
	m.active.Store(s.Active)
	m.evicted.Store(s.Evicted)
}

// NewMetrics registers the engine's metrics in reg (a private registry
// when nil).
func NewMetrics(reg *metrics.Registry) *Metrics {
	if reg == nil {
		reg = &metrics.Registry{}
	}
	m := &Metrics{
		reg:            reg,
		Hits:           reg.Counter("knockdaemon_hits_total", "Packets seen by the knock sources.").With(),
		OutsideSpan:    reg.Counter("knockdaemon_hits_outside_span_total", "Packets to ports outside the knock span, ignored.").With(),
		Accepted:       reg.Counter("knockdaemon_knocks_accepted_total", "Knocks that passed every check.").With(),
		ActionsDropped: reg.Counter("knockdaemon_actions_dropped_total", "Firewall changes dropped because the firewall fell behind.").With(),
		Shed:           reg.Counter("knockdaemon_searches_shed_total", "Packets whose candidates that skip foreign knocks were left untried because the engine-wide budget of such decodes was spent (a flood from many addresses).").With(),
		Throttled:      reg.Counter("knockdaemon_sources_throttled_total", "Times a source ran out of its budget of decodes (counted once until its budget is full again).").With(),
		rejects:        reg.Counter("knockdaemon_knocks_rejected_total", "Packets whose queue was tried and opened nothing, by the furthest check reached.", "reason"),
		byReason:       map[knock.Reason]*metrics.Counter{},
		Latency:        &latency{},
	}
	for _, r := range knock.Reasons {
		m.byReason[r] = m.rejects.With(string(r))
	}
	reg.Gauge("knockdaemon_sources_tracked", "Source addresses with knocks in their queue.", func() float64 {
		return float64(m.probation.Load() + m.active.Load())
	})
	reg.Gauge("knockdaemon_sources_repeat", "Sources seen more than once within the knock timeout.", func() float64 {
		return float64(m.active.Load())
	})
	reg.Gauge("knockdaemon_sources_evicted", "Sources pushed out of the tracker to make room, since start.", func() float64 {
		return float64(m.evicted.Load())
	})
	reg.Gauge("knockdaemon_firewall_seconds_last", "Seconds from the deciding packet to the firewall change, last change.", func() float64 {
		return m.Latency.last().Seconds()
	})
	return m
}

func (m *Metrics) rejected(reason knock.Reason) *metrics.Counter {
	if c, ok := m.byReason[reason]; ok {
		return c
	}
	return m.rejects.With(string(reason))
}

// Rejected returns the count for a reason, for tests and status.
func (m *Metrics) Rejected(reason knock.Reason) uint64 { return m.rejected(reason).Value() }

// Registry returns the registry the metrics live in.
func (m *Metrics) Registry() *metrics.Registry { return m.reg }

func (m *Metrics) setGrants(f func() float64) {
	m.reg.Gauge("knockdaemon_grants_open", "Grants this daemon made that are still in force.", f)
}

// latency keeps the last decision-to-firewall time.
type latency struct {
	mu sync.Mutex
	d  time.Duration
}

func (l *latency) observe(d time.Duration) { l.mu.Lock(); l.d = d; l.mu.Unlock() }
func (l *latency) last() time.Duration     { l.mu.Lock(); defer l.mu.Unlock(); return l.d }
