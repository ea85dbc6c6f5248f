// Package engine is the knock daemon's decision engine: hits in, grants
// out.
//
// For every packet seen on the knock span the engine appends its port to
// the source's queue (package tracker), then tries the queue's tail at
// every length a valid knock can have: a knock that a stray packet
// interrupted is still found when the stray came before it; the work one
// packet can cause is bounded whatever its source sent (search.go). A
// candidate passes, in order: decoding (span, length, decryption or
// authentication, checksum), the time window, CLIENT against the packet's
// source (when configured), the list of protected ports, and the replay
// cache. Each failure is a named reason in the log and a counter; nothing
// is ever sent back to the network.
//
// The engine runs in one goroutine (Run), so the decision path takes no
// locks; firewall changes happen in a second goroutine, so a slow backend
// never stalls the reading of packets.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/tracker"
)

// Config is what the engine decides with. Reload swaps it whole.
type Config struct {
	// Protocols are the knocks understood, several at once: each is a
	// SpanProtocol, a DatagramProtocol or both.
	Protocols   []Protocol
	Protected   []knock.Port
	Duration    time.Duration // when the knock carries none (default 5 min)
	MaxDuration time.Duration // the most a knock may ask for (default 24 h)
	CheckClient bool          // an address carried in the knock must be the packet's source
	Replay      bool          // refuse knocks accepted before (needs Deps.Claims)
	// NotBefore refuses knocks stamped at or before it: set when the replay
	// cache was lost, so knocks it can no longer vouch for stay out.
	NotBefore time.Time
	DryRun    bool // decide and log, change no firewall, claim nothing (-test)
}

func (c *Config) check() error {
	if len(c.Protocols) == 0 {
		return fmt.Errorf("no knock protocol configured")
	}
	for _, p := range c.Protocols {
		_, span := p.(SpanProtocol)
		_, dgram := p.(DatagramProtocol)
		if !span && !dgram {
			return fmt.Errorf("knock protocol %s reads neither spans nor datagrams", p.Name())
		}
	}
	if len(c.Protected) == 0 {
		return fmt.Errorf("no protected ports: list the ports knocks may open (for example protected = tcp/22)")
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Minute
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = 24 * time.Hour
	}
	if c.Duration > c.MaxDuration {
		return fmt.Errorf("default duration %s is longer than the maximum %s", c.Duration, c.MaxDuration)
	}
	return nil
}

// spanRoute is a span protocol with its own queues.
type spanRoute struct {
	proto      SpanProtocol
	span       *portspan.Span
	lengths    []int // proto.Lengths(), read once per configuration
	skip       int   // foreign knocks a candidate may skip: proto.Skip(), at most 2
	look       int   // ports the first look reads
	skipPerHit int   // SkipCost(proto)
	shared     *sharedBudget
	buf        []uint16
	tracker    *tracker.Tracker
}

// Engine is the decision engine.
type Engine struct {
	cfg      Config
	spans    []spanRoute
	dgrams   map[uint16][]DatagramProtocol
	trackers tracker.Config
	claims   Claims
	log      *slog.Logger
	now      func() time.Time
	m        *Metrics
	acts     *actor
	reloads  chan reload
	limiter  *logLimiter
}

type reload struct {
	cfg  Config
	done chan error
}

// Deps are the engine's edges, passed in so tests can fake them.
type Deps struct {
	// Trackers sizes the queues of each span protocol (Depth is set per
	// protocol from its longest knock).
	Trackers tracker.Config
	Claims   Claims // nil: replay protection off
	Firewall Firewall
	Log      *slog.Logger
	Now      func() time.Time
	Metrics  *Metrics
}

// New checks cfg and builds an engine.
func New(cfg Config, d Deps) (*Engine, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Replay && d.Claims == nil {
		return nil, fmt.Errorf("replay protection is on but no replay cache was given")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	e := &Engine{
		trackers: d.Trackers, claims: d.Claims, log: d.Log, now: d.Now,
		m: d.Metrics, reloads: make(chan reload), limiter: newLogLimiter(d.Now, 20),
	}
	if err := e.route(cfg); err != nil {
		return nil, err
	}
	e.cfg = cfg
	e.acts = newActor(d.Firewall, d.Claims, d.Log, d.Metrics, d.Now)
	return e, nil
}

// route sorts cfg's protocols by how their knocks arrive, keeping the
// queues of a span whose knocks keep their shape.
func (e *Engine) route(cfg Config) error {
	old := e.spans
	var spans []spanRoute
	dgrams := map[uint16][]DatagramProtocol{}
	for _, p := range cfg.Protocols {
		if sp, ok := p.(SpanProtocol); ok {
			r := spanRoute{proto: sp, span: sp.KnockSpan(), lengths: sp.Lengths(), skip: min(max(sp.Skip(), 0), 2), look: 8, skipPerHit: SkipCost(sp)}
			if fl, ok := sp.(firstLook); ok {
				r.look = min(max(fl.PlausiblePorts(), 1), 8)
			}
			for _, o := range spans {
				if o.span.Overlaps(r.span) {
					return fmt.Errorf("the knock spans of %s (%s) and %s (%s) overlap: give each protocol its own ports", o.proto.Name(), o.span, sp.Name(), r.span)
				}
			}
			tc := e.trackers
			tc.Depth = DepthFor(sp)
			tc.Budget, tc.Refill = BudgetFor(sp), budgetRefill
			r.buf = make([]uint16, 0, tc.Depth)
			r.shared = newSharedBudget(max(sharedSearches*r.skipPerHit, 1))
			for _, o := range old {
				if o.proto.Name() == sp.Name() && o.span.String() == r.span.String() && o.tracker.Config() == tc.Defaulted() {
					r.tracker = o.tracker
				}
			}
			if r.tracker == nil {
				r.tracker = tracker.New(tc)
			}
			spans = append(spans, r)
		}
		if dp, ok := p.(DatagramProtocol); ok && dp.DatagramPort() != 0 {
			dgrams[dp.DatagramPort()] = append(dgrams[dp.DatagramPort()], dp)
		}
	}
	e.spans, e.dgrams = spans, dgrams
	return nil
}

// DepthFor is the queue depth a span protocol needs: its longest knock,
// the foreign knocks it may skip, and strays before it.
func DepthFor(p SpanProtocol) int {
	l := p.Lengths()
	return l[len(l)-1] + p.Skip() + 8
}

// Run reads hits until ctx ends, then waits for pending firewall changes.
func (e *Engine) Run(ctx context.Context, hits <-chan source.Hit) error {
	done := make(chan struct{})
	go func() { e.acts.run(ctx); close(done) }()
	defer func() { <-done }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case h := <-hits:
			e.Handle(h)
		case r := <-e.reloads:
			r.done <- e.apply(r.cfg)
		case <-tick.C:
			e.m.publishTracker(e.trackerStats())
		}
	}
}

func (e *Engine) trackerStats() tracker.Stats {
	var s tracker.Stats
	for _, r := range e.spans {
		t := r.tracker.Stats()
		s.Probation += t.Probation
		s.Active += t.Active
		s.Evicted += t.Evicted
		s.Expired += t.Expired
		s.Promoted += t.Promoted
		s.Throttled += t.Throttled
	}
	return s
}

// Reload swaps the configuration between two hits. Queues, the replay
// cache and granted access are kept.
func (e *Engine) Reload(ctx context.Context, cfg Config) error {
	r := reload{cfg: cfg, done: make(chan error, 1)}
	select {
	case e.reloads <- r:
		return <-r.done
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Engine) apply(cfg Config) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if cfg.Replay && e.claims == nil {
		return fmt.Errorf("replay protection cannot be turned on by a reload: restart the daemon")
	}
	if err := e.route(cfg); err != nil {
		return err
	}
	e.cfg = cfg
	return nil
}

var errImplausible = errors.New("the knock's first bytes cannot start a knock")

// Handle decides on one hit. Run calls it; tests may call it directly.
func (e *Engine) Handle(h source.Hit) {
	e.m.Hits.Inc()
	src := h.Src.Unmap()
	if h.Proto == knock.UDP && h.Payload != nil {
		if dps, ok := e.dgrams[h.Port]; ok {
			e.handleDatagram(dps, h, src)
			return
		}
	}
	for i := range e.spans {
		if e.spans[i].span.Contains(h.Port) {
			e.handleSpan(&e.spans[i], h, src)
			return
		}
	}
	e.m.OutsideSpan.Inc()
}

func (e *Engine) handleSpan(r *spanRoute, h source.Hit, src netip.Addr) {
	at := h.Time
	if at.IsZero() {
		at = e.now()
	}
	queue := r.tracker.Add(src, h.Port, at)
	if len(queue) < r.lengths[0] {
		return
	}
	s := search{e: e, r: r, src: src, at: at, queue: queue, allow: -1}
	accepted := s.run()
	if s.allow >= 0 || s.starved {
		r.shared.spend(s.used)
		if s.starved && s.shed {
			e.m.Shed.Inc()
		}
		if r.tracker.Spend(src, s.used, s.starved && !s.shed) {
			e.throttled(r, src)
		}
	}
	if accepted {
		r.tracker.Consume(src)
		e.accept(s.req, src)
		return
	}
	if s.best == "" {
		// Every candidate failed the first look, or waits for budget.
		s.best, s.bestErr = knock.ReasonMalformed, errImplausible
	}
	e.refuse(r.proto.Name(), s.best, s.bestErr, src)
}

// throttled counts a source that has just run out of budget, and says so
// once, within the log's rate limit.
func (e *Engine) throttled(r *spanRoute, src netip.Addr) {
	e.m.Throttled.Inc()
	if !e.log.Enabled(context.Background(), slog.LevelWarn) || !e.limiter.allow() {
		return
	}
	e.log.Warn("source throttled: its packets made more candidates than its budget of decodes; candidates that skip foreign knocks wait until it earns budget back",
		"protocol", r.proto.Name(), "src", src, "budget", r.tracker.Config().Budget, "refill", r.tracker.Config().Refill)
}

// handleDatagram decides on a single-packet authorization datagram: the
// protocols reading its port try it in turn (at most a few: one per
// protocol configured), and the furthest refusal is reported.
func (e *Engine) handleDatagram(dps []DatagramProtocol, h source.Hit, src netip.Addr) {
	var (
		best    knock.Reason
		bestErr error
		by      knock.Protocol
	)
	for _, dp := range dps {
		req, err := dp.DecodeDatagram(h.Payload, src, h.Dst.Unmap(), e.now())
		if err == nil {
			req, err = e.policy(req, src)
		}
		if err == nil {
			e.accept(req, src)
			return
		}
		if r := knock.ReasonOf(err); best == "" || r.Stage() > best.Stage() {
			best, bestErr, by = r, err, dp.Name()
		}
	}
	e.refuse(by, best, bestErr, src)
}

// Explain runs every check on one sequence as if it had arrived from src,
// without acting and without remembering it: knockdaemon -decode. The
// replay cache is asked through claims, which must not record (a
// read-only cache). It must not run while Run does.
func (e *Engine) Explain(ctx context.Context, ports []uint16, src netip.Addr, claims Claims) (knock.Request, error) {
	src = src.Unmap()
	var (
		req knock.Request
		err error
	)
	for _, r := range e.spans {
		if !r.span.Contains(ports[0]) {
			continue
		}
		if req, err = e.check(r.proto, ports, src); err != nil {
			return req, err
		}
		if e.cfg.Replay && claims != nil {
			fresh, cerr := claims.Claim(ctx, req.ReplayID, req.ReplayUntil)
			if cerr != nil {
				return req, knock.Refuse(knock.ReasonReplay, fmt.Errorf("the replay cache cannot tell: %w", cerr))
			}
			if !fresh {
				return req, knock.Refuse(knock.ReasonReplay, errReplayed)
			}
		}
		return req, nil
	}
	return req, knock.Refuse(knock.ReasonSpan, fmt.Errorf("port %d is in no knock span", ports[0]))
}

var errReplayed = errors.New("this knock was accepted before")

// check runs every check on one candidate.
func (e *Engine) check(p SpanProtocol, ports []uint16, src netip.Addr) (knock.Request, error) {
	req, err := p.Decode(ports, src, e.now())
	if err != nil {
		return req, err
	}
	return e.policy(req, src)
}

// policy runs the checks that follow decoding: time horizon, client,
// port. The replay claim comes later, off the packet path.
func (e *Engine) policy(req knock.Request, src netip.Addr) (knock.Request, error) {
	if !e.cfg.NotBefore.IsZero() && !req.Stamp.IsZero() && !req.Stamp.After(e.cfg.NotBefore) {
		return req, knock.Refuse(knock.ReasonStale, fmt.Errorf("the knock is stamped %s, before %s: the replay cache was lost and cannot vouch for older knocks", req.Stamp.Format(time.RFC3339), e.cfg.NotBefore.Format(time.RFC3339)))
	}
	if e.cfg.CheckClient && req.ClientInKnock && req.Client.Unmap() != src {
		return req, knock.Refuse(knock.ReasonClient, fmt.Errorf("the knock's CLIENT %s is not the packet's source %s", req.Client, src))
	}
	if len(req.Ports) > 0 {
		for _, p := range req.Ports {
			if !slices.Contains(e.cfg.Protected, p) {
				return req, knock.Refuse(knock.ReasonPort, fmt.Errorf("%s is not a protected port (%s)", p, e.protectedText()))
			}
		}
	} else if len(e.grantPorts(req)) == 0 {
		return req, knock.Refuse(knock.ReasonPort, fmt.Errorf("port %d is not a protected port (%s)", req.Port, e.protectedText()))
	}
	return req, nil
}

// grantPorts returns the protected ports the request acts on.
func (e *Engine) grantPorts(req knock.Request) []knock.Port {
	if len(req.Ports) > 0 {
		return req.Ports
	}
	var out []knock.Port
	for _, p := range e.cfg.Protected {
		if p.Port == req.Port && (req.Proto == "" || req.Proto == p.Proto) {
			out = append(out, p)
		}
	}
	return out
}

func (e *Engine) protectedText() string {
	s := make([]string, len(e.cfg.Protected))
	for i, p := range e.cfg.Protected {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// accept hands a knock that passed every check but the replay claim to
// the actor, which claims it and changes the firewall.
func (e *Engine) accept(req knock.Request, src netip.Addr) {
	dur := req.Duration
	if dur == 0 && !req.Close {
		dur = e.cfg.Duration
	}
	if dur > e.cfg.MaxDuration {
		dur = e.cfg.MaxDuration
	}
	d := decision{req: req, src: src, at: e.now(), dryRun: e.cfg.DryRun, claim: e.cfg.Replay && !e.cfg.DryRun}
	for _, p := range e.grantPorts(req) {
		d.grants = append(d.grants, firewall.Grant{Addr: req.Client.Unmap(), Proto: p.Proto, Port: p.Port, Duration: dur, Fields: req.Fields})
	}
	e.acts.submit(d)
}

func (e *Engine) refuse(p knock.Protocol, reason knock.Reason, err error, src netip.Addr) {
	e.m.rejected(reason).Inc()
	// Failures before authentication are what every stray packet and
	// every flood produces: debug only. Later ones passed the key, which
	// deserves the operator's eye, within a rate limit.
	level := slog.LevelDebug
	if reason.Authentic() {
		level = slog.LevelWarn
	}
	if !e.log.Enabled(context.Background(), level) || !e.limiter.allow() {
		return
	}
	e.log.Log(context.Background(), level, "knock rejected", "protocol", p, "reason", reason, "src", src, "err", err)
}

// SetFirewall swaps the firewall: changes decided from now on go to fw.
// The caller has set fw up; grants in the kernel are untouched.
func (e *Engine) SetFirewall(fw Firewall) { e.acts.setFirewall(fw) }
