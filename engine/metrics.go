package engine

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/portknock/knock"
)

// Metrics are the engine's counters, registered in a Prometheus registry.
//
// A rejection is a knock refused, not a packet: a candidate that passed
// its protocol's first look (SpanProtocol.Plausible) and failed a later
// check, or a datagram refused. A packet that completes no plausible
// candidate is part of a knock still arriving, or noise: it is counted
// as pending, and never raises a rejection.
type Metrics struct {
	hits, outsideSpan, pending, slow, evicted, actionsDropped, throttled, shed prometheus.Counter

	accepted *prometheus.CounterVec // protocol, user
	rejected *prometheus.CounterVec // protocol, reason, user
	change   prometheus.Histogram   // decision to firewall change, seconds

	// The tracker belongs to the decision loop; it publishes its sizes
	// here once a second for scrapes from other goroutines.
	probation, active atomic.Uint64

	grantsMu sync.Mutex
	grants   func() float64 // set by the actor
}

// NewMetrics registers the engine's metrics in reg (a private registry
// when nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &Metrics{
		hits:           counter("knockdaemon_hits_total", "Packets (or log lines) the knock source handed to the engine."),
		outsideSpan:    counter("knockdaemon_hits_outside_span_total", "Hits to ports outside every knock span and datagram port, ignored."),
		pending:        counter("knockdaemon_span_packets_pending_total", "Packets to a knock span that completed no plausible knock: knocks still arriving, or noise. Not rejections."),
		slow:           counter("knockdaemon_knocks_timed_out_total", "Knock queues restarted because the next packet came after knocktimeout: knocks sent too slowly, or a source coming back."),
		evicted:        counter("knockdaemon_sources_evicted_total", "Sources pushed out of the knock tracker to make room."),
		actionsDropped: counter("knockdaemon_actions_dropped_total", "Accepted knocks dropped because the firewall or the replay cache fell behind."),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "knockdaemon_knocks_accepted_total",
			Help: "Knocks that passed every check, by protocol and configured user.",
		}, []string{"protocol", "user"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "knockdaemon_knocks_rejected_total",
			Help: "Knocks refused (span candidates that passed the first look, datagrams), by protocol, the furthest check reached, and configured user.",
		}, []string{"protocol", "reason", "user"}),
		change: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "knockdaemon_firewall_change_seconds",
			Help:    "Seconds from the packet that decided a knock to the firewall change it made.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		shed:      counter("knockdaemon_searches_shed_total", "Packets whose candidates that skip foreign knocks were left untried because the engine-wide budget of such decodes was spent (a flood from many addresses)."),
		throttled: counter("knockdaemon_sources_throttled_total", "Times a source ran out of its budget of decodes (counted once until its budget is full again)."),
	}
	reg.MustRegister(m.hits, m.outsideSpan, m.pending, m.slow, m.evicted, m.actionsDropped, m.accepted, m.rejected, m.change)
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "knockdaemon_sources_tracked", Help: "Source addresses with knocks in their queue."},
			func() float64 { return float64(m.probation.Load() + m.active.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "knockdaemon_sources_repeat", Help: "Sources seen more than once within the knock timeout."},
			func() float64 { return float64(m.active.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "knockdaemon_grants_open", Help: "Grants in force in the firewall, read from it (at most every second)."},
			m.openGrants),
	)
	return m
}

func (m *Metrics) publishTracker(probation, active uint64) {
	m.probation.Store(probation)
	m.active.Store(active)
}

func (m *Metrics) setGrants(f func() float64) {
	m.grantsMu.Lock()
	m.grants = f
	m.grantsMu.Unlock()
}

func (m *Metrics) openGrants() float64 {
	m.grantsMu.Lock()
	f := m.grants
	m.grantsMu.Unlock()
	if f == nil {
		return 0
	}
	return f()
}

// userLabel is the user a knock's counters carry. Only names from the
// configuration may become label values, never names from the wire, so
// that the number of series stays bounded by the configuration. fwknop's
// User is "name@file:line": the name is the packet's (any holder of a key
// may write anything there), the stanza's place is configuration's, and
// only that is kept. The other protocols name users from their key rings,
// or none.
func userLabel(req knock.Request) string {
	if req.Protocol == knock.FWKNOP {
		if i := strings.LastIndexByte(req.User, '@'); i >= 0 {
			return req.User[i+1:]
		}
		return ""
	}
	return req.User
}

// zero creates the series of a protocol's knocks at zero, so that the
// first refusal is an increase a query sees, not a series appearing.
func (m *Metrics) zero(p knock.Protocol) {
	m.accepted.WithLabelValues(string(p), "")
	for _, r := range knock.Reasons {
		m.rejected.WithLabelValues(string(p), string(r), "")
	}
}

func (m *Metrics) reject(p knock.Protocol, reason knock.Reason, req knock.Request) {
	m.rejected.WithLabelValues(string(p), string(reason), userLabel(req)).Inc()
}

func (m *Metrics) accept(req knock.Request) {
	m.accepted.WithLabelValues(string(req.Protocol), userLabel(req)).Inc()
}

// Rejected returns the rejections for a reason, whatever the protocol
// and user: for tests and status.
func (m *Metrics) Rejected(reason knock.Reason) uint64 {
	return sum(m.rejected, func(l map[string]string) bool { return l["reason"] == string(reason) })
}

// Accepted returns the knocks accepted, whatever the protocol and user.
func (m *Metrics) Accepted() uint64 { return sum(m.accepted, nil) }

// sum adds the counters c collects whose labels match.
func sum(c prometheus.Collector, match func(map[string]string) bool) uint64 {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	var total float64
	for pm := range ch {
		var d dto.Metric
		if pm.Write(&d) != nil || d.Counter == nil {
			continue
		}
		labels := map[string]string{}
		for _, lp := range d.Label {
			labels[lp.GetName()] = lp.GetValue()
		}
		if match == nil || match(labels) {
			total += d.Counter.GetValue()
		}
	}
	return uint64(total)
}
