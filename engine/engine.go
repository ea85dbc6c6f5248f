// Package engine is the knock daemon's decision engine: hits in, grants
// out.
//
// For every packet seen on the knock span the engine appends its port to
// the source's queue (package tracker), then tries the queue's tail at
// every length a valid knock can have: a knock that a stray packet
// interrupted is still found when the stray came before it. A candidate
// passes, in order: decoding (span, length, decryption or authentication,
// checksum), the time window, CLIENT against the packet's source (when
// configured), the list of protected ports, and the replay cache. Each
// failure is a named reason in the log and a counter; nothing is ever sent
// back to the network.
//
// The engine runs in one goroutine (Run), so the decision path takes no
// locks; firewall changes happen in a second goroutine, so a slow backend
// never stalls the reading of packets.
package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/replay"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/tracker"
)

// Port is a protected port: the only ports a knock may ever open.
type Port = firewall.Port

// Config is what the engine decides with. Reload swaps it whole.
type Config struct {
	Decoder     Decoder
	Protected   []Port
	Duration    time.Duration // when the knock carries none (default 5 min)
	MaxDuration time.Duration // the most a knock may ask for (default 24 h)
	CheckClient bool          // a knock's CLIENT must be the packet's source
	Replay      bool          // refuse knocks accepted before
	DryRun      bool          // decide and log, change no firewall (-test)
}

func (c *Config) check() error {
	if c.Decoder == nil {
		return fmt.Errorf("no knock decoder configured")
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

// Engine is the decision engine.
type Engine struct {
	cfg     Config
	tracker *tracker.Tracker
	replay  *replay.Cache
	fw      firewall.Backend
	log     *slog.Logger
	now     func() time.Time
	m       *Metrics
	acts    *actor
	lengths []int // cfg.Decoder.Lengths(), read once per configuration
	reloads chan reload
	limiter *logLimiter
}

type reload struct {
	cfg  Config
	done chan error
}

// Deps are the engine's edges, passed in so tests can fake them.
type Deps struct {
	Tracker  *tracker.Tracker
	Replay   *replay.Cache // nil: replay protection off
	Firewall firewall.Backend
	Log      *slog.Logger
	Now      func() time.Time
	Metrics  *Metrics
}

// New checks cfg and builds an engine.
func New(cfg Config, d Deps) (*Engine, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Replay && d.Replay == nil {
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
	if d.Tracker == nil {
		d.Tracker = tracker.New(tracker.Config{})
	}
	e := &Engine{
		cfg: cfg, tracker: d.Tracker, replay: d.Replay, fw: d.Firewall, log: d.Log, now: d.Now,
		m: d.Metrics, reloads: make(chan reload), limiter: newLogLimiter(d.Now, 20),
		lengths: cfg.Decoder.Lengths(),
	}
	e.acts = newActor(d.Firewall, d.Log, d.Metrics, d.Now)
	return e, nil
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
			e.m.publishTracker(e.tracker.Stats())
		}
	}
}

// SetFirewall swaps the firewall backend: changes decided from now on go
// to fw. The caller has set fw up; grants in the kernel are untouched.
func (e *Engine) SetFirewall(fw firewall.Backend) { e.acts.setFirewall(fw) }

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
	if cfg.Replay && e.replay == nil {
		return fmt.Errorf("replay protection cannot be turned on by a reload: restart the daemon")
	}
	e.cfg = cfg
	e.lengths = cfg.Decoder.Lengths()
	return nil
}

var errImplausible = errors.New("the knock's first bytes cannot start a knock")

// Handle decides on one hit. Run calls it; tests may call it directly.
func (e *Engine) Handle(h source.Hit) {
	e.m.Hits.Inc()
	d := e.cfg.Decoder
	if sd, ok := d.(SPADecoder); ok && h.Payload != nil && h.Proto == source.UDP && sd.SPAPort() != 0 && h.Port == sd.SPAPort() {
		e.handleSPA(sd, h)
		return
	}
	if !d.InSpan(h.Port) {
		e.m.OutsideSpan.Inc()
		return
	}
	at := h.Time
	if at.IsZero() {
		at = e.now()
	}
	src := h.Src.Unmap()
	queue := e.tracker.Add(src, h.Port, at)
	lengths := e.lengths
	if len(queue) < lengths[0] {
		return
	}
	best, bestErr := "", error(nil)
	for cand := range candidates(queue, lengths, min(d.Skip(), 2), d.Plausible) {
		req, err := e.check(cand, src)
		if err == nil {
			e.tracker.Consume(src)
			e.accept(req, src)
			return
		}
		if r := ReasonOf(err); best == "" || stage[r] > stage[best] {
			best, bestErr = r, err
		}
	}
	if best == "" {
		// Every candidate failed the first look.
		best, bestErr = ReasonMalformed, errImplausible
	}
	e.m.rejected(best).Inc()
	e.logReject(best, bestErr, src)
}

// handleSPA decides on a single-packet authorization datagram.
func (e *Engine) handleSPA(sd SPADecoder, h source.Hit) {
	src := h.Src.Unmap()
	req, err := sd.DecodeSPA(h.Payload, src, e.now())
	if err == nil {
		req, err = e.policy(req, src)
	}
	if err != nil {
		reason := ReasonOf(err)
		e.m.rejected(reason).Inc()
		e.logReject(reason, err, src)
		return
	}
	e.accept(req, src)
}

// Explain runs every check on one sequence as if it had arrived from src,
// without acting and without remembering it: knockdaemon -decode. It must
// not run while Run does.
func (e *Engine) Explain(ports []uint16, src netip.Addr) (Request, error) {
	return e.check(ports, src.Unmap())
}

// check runs every check on one candidate.
func (e *Engine) check(ports []uint16, src netip.Addr) (Request, error) {
	req, err := e.cfg.Decoder.Decode(ports, src, e.now())
	if err != nil {
		return req, err
	}
	return e.policy(req, src)
}

// policy runs the checks that follow decoding: client, port, replay.
func (e *Engine) policy(req Request, src netip.Addr) (Request, error) {
	if e.cfg.CheckClient && req.ClientInKnock && req.Client.Unmap() != src {
		return req, reject(ReasonClient, fmt.Errorf("the knock's CLIENT %s is not the packet's source %s", req.Client, src))
	}
	if len(e.protocols(req)) == 0 {
		return req, reject(ReasonPort, fmt.Errorf("port %d is not a protected port (%s)", req.Port, e.protectedText()))
	}
	if e.cfg.Replay && e.replay.Seen(req.ReplayID) {
		return req, reject(ReasonReplay, fmt.Errorf("this knock was accepted before"))
	}
	return req, nil
}

// protocols returns the protected protocols the request may act on.
func (e *Engine) protocols(req Request) []string {
	var out []string
	for _, p := range e.cfg.Protected {
		if p.Port == req.Port && (req.Proto == "" || req.Proto == p.Proto) {
			out = append(out, p.Proto)
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

// accept records a valid knock and queues its firewall changes.
func (e *Engine) accept(req Request, src netip.Addr) {
	dur := req.Duration
	if dur == 0 && !req.Close {
		dur = e.cfg.Duration
	}
	if dur > e.cfg.MaxDuration {
		dur = e.cfg.MaxDuration
	}
	if e.cfg.Replay && !e.cfg.DryRun {
		if err := e.replay.Add(req.ReplayID, req.ReplayUntil); err != nil {
			// Fail closed: a knock that could not be remembered could be
			// replayed, so it opens nothing.
			e.m.rejected(ReasonReplay).Inc()
			e.log.Error("knock refused: the replay cache cannot record it", "src", src, "err", err)
			return
		}
	}
	e.m.Accepted.Inc()
	verb := "open"
	if req.Close {
		verb = "close"
	}
	for _, proto := range e.protocols(req) {
		g := firewall.Grant{Addr: req.Client.Unmap(), Proto: proto, Port: req.Port, Duration: dur, Fields: req.Fields}
		e.log.Info("knock accepted", "action", verb, "src", src, "client", g.Addr, "port", fmt.Sprintf("%s/%d", proto, g.Port), "duration", dur, "dry_run", e.cfg.DryRun)
		if !e.cfg.DryRun {
			e.acts.submit(action{grant: g, close: req.Close, at: e.now()})
		}
	}
}

func (e *Engine) logReject(reason string, err error, src netip.Addr) {
	// Failures before decryption are what every stray packet and every
	// flood produces: debug only. Later ones decrypted under the key,
	// which deserves the operator's eye, within a rate limit.
	level := slog.LevelDebug
	if stage[reason] >= stage[ReasonStale] {
		level = slog.LevelWarn
	}
	if !e.log.Enabled(context.Background(), level) || !e.limiter.allow() {
		return
	}
	e.log.Log(context.Background(), level, "knock rejected", "reason", reason, "src", src, "err", err)
}

// candidates yields the tails of queue worth decoding: for each length
// n, the last n knocks, and, when skip > 0, the last n+s knocks with s of
// them left out (never the first: that is a shorter tail, tried already;
// never the last: the knock ends with the packet that just arrived). Work
// per hit is bounded by the lengths and skip, not by the queue.
//
// Before a candidate is built, its first ports (at most 8: enough for a
// first byte on any span) go to plausible; most garbage stops there, at
// the cost of a lookup. The yielded slice is reused: copy it to keep it.
func candidates(queue []uint16, lengths []int, skip int, plausible func(prefix []uint16, n int) bool) iter.Seq[[]uint16] {
	return func(yield func([]uint16) bool) {
		buf := make([]uint16, 0, len(queue))
		for _, n := range lengths {
			for s := 0; s <= skip && n+s <= len(queue); s++ {
				w := window{ports: queue[len(queue)-n-s:], skip: s, buf: buf, plausible: plausible, yield: yield}
				if !w.each(1, 0) {
					return
				}
			}
		}
	}
}

// window enumerates the ways of leaving skip inner ports out of ports.
type window struct {
	ports     []uint16
	skip      int
	gaps      [2]int
	buf       []uint16
	plausible func([]uint16, int) bool
	yield     func([]uint16) bool
}

func (w *window) each(from, k int) bool {
	if k == w.skip {
		return w.emit()
	}
	for i := from; i < len(w.ports)-1; i++ {
		w.gaps[k] = i
		if !w.each(i+1, k+1) {
			return false
		}
	}
	return true
}

func (w *window) skipped(i int) bool {
	return (w.skip >= 1 && i == w.gaps[0]) || (w.skip >= 2 && i == w.gaps[1])
}

func (w *window) emit() bool {
	n := len(w.ports) - w.skip
	var prefix [8]uint16
	k := 0
	for i := 0; i < len(w.ports) && k < len(prefix) && k < n; i++ {
		if !w.skipped(i) {
			prefix[k] = w.ports[i]
			k++
		}
	}
	if !w.plausible(prefix[:k], n) {
		return true
	}
	w.buf = w.buf[:0]
	for i, p := range w.ports {
		if !w.skipped(i) {
			w.buf = append(w.buf, p)
		}
	}
	return w.yield(w.buf)
}
