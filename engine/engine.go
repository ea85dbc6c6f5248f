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
// Hits to the ports of a stateful protocol (knockd's doors) go to it first,
// whatever their TCP flags: it follows each source itself and returns the
// doors that opened, whose grants then pass the same policy.
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
	// RefuseSource refuses sealed knocks that carry no address (the
	// client's "client = source"): allowsource = no.
	RefuseSource bool
	// Policy checks each decoded request against its user's rights.
	Policy Policy
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
		_, stateful := p.(StatefulProtocol)
		if !span && !dgram && !stateful {
			return fmt.Errorf("knock protocol %s reads neither spans, datagrams nor sequences", p.Name())
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
	stateful map[knock.Port][]StatefulProtocol
	trackers tracker.Config
	claims   Claims
	log      *slog.Logger
	now      func() time.Time
	m        *Metrics
	acts     *actor
	reloads  chan reload
	limiter  *logLimiter

	// What the operator reads in a line a minute rather than a line a
	// packet: see summarize.
	summaryAt           time.Time
	outside             int
	wrongKey, slowKnock quota
}

// Lines a minute logged one by one before the rest go into the minute's
// summary: knocks with a wrong key, knocks sent too slowly.
const perMinute = 5

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
	// Granted, when set, hears of every grant the firewall opened, from
	// the actor's goroutine: it must not block (a fleet publishes it).
	Granted  func(Grant)
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
		summaryAt: d.Now(), wrongKey: quota{burst: perMinute}, slowKnock: quota{burst: perMinute},
	}
	if err := e.route(cfg); err != nil {
		return nil, err
	}
	e.cfg = cfg
	e.acts = newActor(d.Firewall, d.Claims, d.Log, d.Metrics, d.Now)
	e.acts.granted = d.Granted
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
	stateful := map[knock.Port][]StatefulProtocol{}
	for _, p := range cfg.Protocols {
		sp, ok := p.(StatefulProtocol)
		if !ok {
			continue
		}
		for _, pt := range sp.Ports() {
			for _, r := range spans {
				if r.span.Contains(pt.Port) {
					return fmt.Errorf("%s watches %s, in the knock span of %s (%s): give each protocol its own ports", sp.Name(), pt, r.proto.Name(), r.span)
				}
			}
			if pt.Proto == knock.UDP && len(dgrams[pt.Port]) > 0 {
				return fmt.Errorf("%s watches %s, the datagram port of %s: give each protocol its own ports", sp.Name(), pt, dgrams[pt.Port][0].Name())
			}
			if !slices.Contains(stateful[pt], sp) {
				stateful[pt] = append(stateful[pt], sp)
			}
		}
	}
	e.spans, e.dgrams, e.stateful = spans, dgrams, stateful
	for _, p := range cfg.Protocols {
		e.m.zero(p.Name())
	}
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
			s := e.trackerStats()
			e.m.publishTracker(s.Probation, s.Active)
			e.summarize()
			for _, p := range e.cfg.Protocols {
				if t, ok := p.(Ticker); ok {
					go t.Tick(e.now()) // a table build must not stall packets
				}
			}
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

// Handle decides on one hit. Run calls it; tests may call it directly.
func (e *Engine) Handle(h source.Hit) {
	e.m.hits.Inc()
	src := h.Src.Unmap()
	if sps, ok := e.stateful[knock.Port{Proto: h.Proto, Port: h.Port}]; ok {
		e.handleStateful(sps, h, src)
		return
	}
	if h.Proto == knock.TCP && h.TCPFlags != 0 && h.TCPFlags&0x12 != 0x02 {
		// A segment other than a SYN, seen for a stateful protocol's
		// port that a reload took away.
		e.m.outsideSpan.Inc()
		return
	}
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
	e.m.outsideSpan.Inc()
	e.outside++
}

// summarize logs, once a minute, what is counted per packet but worth a
// line only in sum: hits outside the knock span (a client knocking on
// ports the daemon does not watch, after a change of span or key file),
// and the lines the per-minute quotas held back.
func (e *Engine) summarize() {
	now := e.now()
	if now.Sub(e.summaryAt) < time.Minute {
		return
	}
	e.summaryAt = now
	if e.outside > 0 {
		e.log.Info(fmt.Sprintf("%d packets to ports outside the knock span in the last minute", e.outside),
			"hint", "a client knocking on a span or datagram port this daemon does not watch")
		e.outside = 0
	}
	if n := e.wrongKey.reset(); n > 0 {
		e.log.Warn(fmt.Sprintf("%d more knocks with a wrong key in the last minute", n))
	}
	if n := e.slowKnock.reset(); n > 0 {
		e.log.Info(fmt.Sprintf("%d more knocks sent too slowly in the last minute", n))
	}
}

func (e *Engine) handleSpan(r *spanRoute, h source.Hit, src netip.Addr) {
	at := h.Time
	if at.IsZero() {
		at = e.now()
	}
	before := r.tracker.Stats()
	queue := r.tracker.Add(src, h.Port, at)
	after := r.tracker.Stats()
	if after.Evicted > before.Evicted {
		e.m.evicted.Add(float64(after.Evicted - before.Evicted))
	}
	if after.Expired > before.Expired {
		e.tooSlow(r.proto.Name(), src, h.Port)
	}
	if len(queue) < r.lengths[0] {
		e.m.pending.Inc()
		return
	}
	s := search{e: e, r: r, src: src, at: at, queue: queue, allow: -1}
	accepted := s.run()
	if s.allow >= 0 || s.starved {
		r.shared.spend(s.used)
		if s.starved && s.shed {
			e.m.shed.Inc()
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
		// Every candidate failed the first look, or waits for budget: a
		// knock still arriving, or noise. Neither is a rejection, nor
		// worth a line.
		e.m.pending.Inc()
		return
	}
	if s.best.Authentic() {
		// A real knock, refused for what it asked: its ports must not
		// make candidates with the next knock's.
		r.tracker.Consume(src)
	}
	e.refuse(r.proto.Name(), s.best, s.bestErr, src, h.Port, s.bestReq)
}

// throttled counts a source that has just run out of budget, and says so
// once, within the log's rate limit.
func (e *Engine) throttled(r *spanRoute, src netip.Addr) {
	e.m.throttled.Inc()
	if !e.log.Enabled(context.Background(), slog.LevelWarn) || !e.limiter.allow() {
		return
	}
	e.log.Warn("source throttled: its packets made more candidates than its budget of decodes; candidates that skip foreign knocks wait until it earns budget back",
		"protocol", r.proto.Name(), "src", src, "budget", r.tracker.Config().Budget, "refill", r.tracker.Config().Refill)
}

// tooSlow notes a queue the tracker restarted because its next packet
// came after knocktimeout: a knock sent too slowly (a client pausing
// between packets, a lossy path retrying), or a source coming back.
func (e *Engine) tooSlow(p knock.Protocol, src netip.Addr, port uint16) {
	e.m.slow.Inc()
	if e.slowKnock.allow() {
		e.log.Info("knock sent too slowly: a source's next packet came after the knock timeout, and its knock starts over",
			"protocol", p, "src", src, "port", port, "timeout", e.trackers.Defaulted().Timeout)
	}
}

// handleStateful gives a hit to the stateful protocols on its port and
// acts on the doors they open.
func (e *Engine) handleStateful(sps []StatefulProtocol, h source.Hit, src netip.Addr) {
	if h.Time.IsZero() {
		h.Time = e.now()
	}
	h.Src = src
	for _, sp := range sps {
		for _, o := range sp.Observe(h) {
			req := o.Request
			d := decision{req: req, src: src, at: e.now(), dryRun: e.cfg.DryRun, run: o.Run}
			if len(req.Ports) > 0 {
				var err error
				if req, err = e.policy(req, src); err != nil {
					e.refuse(sp.Name(), knock.ReasonOf(err), err, src, h.Port, req)
					continue
				}
				d = e.decide(req, src)
				d.run = o.Run
			}
			e.acts.submit(d)
		}
	}
}

// handleDatagram decides on a single-packet authorization datagram: the
// protocols reading its port try it in turn (at most a few: one per
// protocol configured), and the furthest refusal is reported.
func (e *Engine) handleDatagram(dps []DatagramProtocol, h source.Hit, src netip.Addr) {
	var (
		best    knock.Reason
		bestErr error
		bestReq knock.Request
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
			best, bestErr, bestReq, by = r, err, req, dp.Name()
		}
	}
	e.refuse(by, best, bestErr, src, h.Port, bestReq)
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
	if e.cfg.Policy != nil {
		var err error
		if req, err = e.cfg.Policy.Admit(req, src, e.now()); err != nil {
			return req, err
		}
	}
	if e.cfg.RefuseSource && req.Protocol == knock.Sealed && !req.ClientInKnock {
		return req, knock.Refuse(knock.ReasonClient, errors.New("the knock carries no address (client = source) and allowsource = no"))
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
	e.acts.submit(e.decide(req, src))
}

// decide turns an accepted request into the actor's decision. A request
// without a replay id (a static sequence) claims nothing.
func (e *Engine) decide(req knock.Request, src netip.Addr) decision {
	dur := req.Duration
	if dur == 0 && !req.Close {
		dur = e.cfg.Duration
	}
	if dur > e.cfg.MaxDuration {
		dur = e.cfg.MaxDuration
	}
	if req.Limit > 0 && dur > req.Limit {
		dur = req.Limit
	}
	claim := e.cfg.Replay && !e.cfg.DryRun && req.ReplayID != knock.ReplayID{}
	d := decision{req: req, src: src, at: e.now(), dryRun: e.cfg.DryRun, claim: claim}
	for _, p := range e.grantPorts(req) {
		d.grants = append(d.grants, firewall.Grant{Addr: req.Client.Unmap(), Proto: p.Proto, Port: p.Port, Duration: dur, Fields: req.Fields})
	}
	return d
}

// refuse counts and logs a refused knock, whose last packet came from
// src to port. req is what decoding read of it, empty when it failed
// before.
func (e *Engine) refuse(p knock.Protocol, reason knock.Reason, err error, src netip.Addr, port uint16, req knock.Request) {
	e.m.reject(p, reason, req)
	if e.keyFailure(p, reason) {
		// Whatever got this far looked like a knock: an operator wants to
		// know of a client with an old key, within a few lines a minute.
		if e.wrongKey.allow() {
			e.log.Warn("knock with a wrong key: it failed authentication", "protocol", p, "reason", reason, "src", src, "port", port, "err", err)
		}
		return
	}
	// Other failures before authentication are what strays and floods
	// produce: debug only. Later ones passed the key, which deserves the
	// operator's eye, within a rate limit.
	level := slog.LevelDebug
	if reason.Authentic() {
		level = slog.LevelWarn
	}
	if !e.log.Enabled(context.Background(), level) || !e.limiter.allow() {
		return
	}
	args := []any{"protocol", p, "reason", reason, "src", src, "port", port, "err", err}
	if req.User != "" {
		args = append(args, "user", req.User)
	}
	e.log.Log(context.Background(), level, "knock rejected", args...)
}

// SetFirewall swaps the firewall: changes decided from now on go to fw.
// The caller has set fw up; grants in the kernel are untouched.
func (e *Engine) SetFirewall(fw Firewall) { e.acts.setFirewall(fw) }

// Grants lists the grants this engine made that are still in force.
func (e *Engine) Grants() []Grant { return e.acts.list() }

// Revoke ends at once every grant in force that match selects, in order
// with the knocks decided before, and says how many it ended. Run must be
// running (or, in tests, nothing else may be).
func (e *Engine) Revoke(ctx context.Context, match func(Grant) bool) (int, error) {
	r := &revocation{match: match, done: make(chan revoked, 1)}
	select {
	case e.acts.queue <- decision{revoke: r}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.n, res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// keyFailure reports whether a knock refused for r failed for want of the
// right key: the tag or HMAC, or padding or checksum for a protocol that
// can tell (KeyJudge).
func (e *Engine) keyFailure(p knock.Protocol, r knock.Reason) bool {
	if r == knock.ReasonAuth {
		return true
	}
	if r != knock.ReasonDecrypt && r != knock.ReasonChecksum {
		return false
	}
	for _, sr := range e.spans {
		if kj, ok := sr.proto.(KeyJudge); ok && sr.proto.Name() == p {
			return kj.JudgesKeys()
		}
	}
	return false
}
