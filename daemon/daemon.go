// Package daemon assembles knockdaemon from its settings: a knock
// source, the decision engine, a firewall backend, the replay cache,
// logging and metrics; it runs them, reloads them on SIGHUP without
// dropping granted access, and stops them cleanly. The command is a thin
// shell over it, and the tests and the demo drive it directly.
//
// Start-up is all or nothing: every setting is checked and every part
// built before anything runs, so the daemon never runs half-configured.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portknock/knock/engine"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/metrics"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/replay"
	"github.com/portknock/knock/settings"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/tracker"
)

// Options are the service's edges.
type Options struct {
	Stderr   io.Writer
	Now      func() time.Time
	Backend  BackendOptions
	Source   SourceOptions
	Log      *slog.Logger  // overrides the logger the settings describe (tests)
	Firewall Backend       // overrides the backend the settings describe (tests)
	Repair   time.Duration // how often the firewall is checked and repaired (default 5 s)
}

// Daemon is an assembled knockdaemon.
type Daemon struct {
	set     *settings.Set
	opts    Options
	log     *slog.Logger
	engine  *engine.Engine
	cfg     engine.Config
	span    *portspan.Span
	src     source.Source
	fw      Backend
	replay  *replay.Cache
	metrics *engine.Metrics
	reg     *metrics.Registry
	mu      sync.Mutex // guards src for reloads
	srcStop context.CancelFunc
	reloads chan reloadReq
}

// New checks every setting and builds every part; nothing runs yet and,
// apart from opening the replay cache, nothing on the host is changed.
func New(set *settings.Set, o Options) (*Daemon, error) {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Repair == 0 {
		o.Repair = 5 * time.Second
	}
	d := &Daemon{set: set, opts: o, reg: &metrics.Registry{}, reloads: make(chan reloadReq)}
	var err error
	if d.log = o.Log; d.log == nil {
		if d.log, err = newLogger(set, o.Stderr); err != nil {
			return nil, err
		}
	}
	if d.cfg, d.span, err = engineConfig(set); err != nil {
		return nil, err
	}
	if d.fw = o.Firewall; d.fw == nil {
		if d.fw, err = newBackend(set, d.cfg.Protected, fieldNames(d.cfg), d.log, o.Backend); err != nil {
			return nil, err
		}
	}
	if d.src, err = newSource(set, d.span, d.extraPorts(), d.log, o.Now, o.Source); err != nil {
		return nil, err
	}
	if d.cfg.Replay {
		if d.replay, err = openReplay(set, o.Now); err != nil {
			return nil, err
		}
	}
	d.metrics = engine.NewMetrics(d.reg)
	d.reg.CounterMap("knockdaemon_source_events_total", "What the knock source counted: packets or lines seen, parsed, malformed, overruns.", "event", d.sourceCounters)
	tr := tracker.New(tracker.Config{Probation: set.Int("maxsources"), Active: set.Int("maxactive"),
		Depth: depthFor(d.cfg), Timeout: set.Duration("knocktimeout")})
	d.engine, err = engine.New(d.cfg, engine.Deps{Tracker: tr, Replay: d.replay, Firewall: d.fw, Log: d.log, Now: o.Now, Metrics: d.metrics})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// NewDecoder builds only what deciding takes, for knockdaemon -decode: no
// source, a firewall that is never called, and the replay cache as it is
// on disk, read and never written.
func NewDecoder(set *settings.Set) (*Daemon, error) {
	d := &Daemon{set: set, reg: &metrics.Registry{}, log: slog.New(slog.DiscardHandler)}
	var err error
	if d.cfg, d.span, err = engineConfig(set); err != nil {
		return nil, err
	}
	d.cfg.DryRun = true
	if d.cfg.Replay {
		if d.replay, err = replay.OpenReadOnly(set.Path("replayfile"), nil); err != nil {
			return nil, set.Errorf("replayfile", "%v", err)
		}
	}
	d.metrics = engine.NewMetrics(d.reg)
	d.engine, err = engine.New(d.cfg, engine.Deps{Replay: d.replay, Firewall: noFirewall{}, Log: d.log, Metrics: d.metrics})
	return d, err
}

// noFirewall refuses every change; -decode never makes one.
type noFirewall struct{}

func (noFirewall) Open(context.Context, firewall.Grant) error  { return errors.New("no firewall") }
func (noFirewall) Close(context.Context, firewall.Grant) error { return errors.New("no firewall") }

// Uninstall removes what the firewall backend installed.
func (d *Daemon) Uninstall(ctx context.Context) error { return d.fw.Uninstall(ctx) }

// DumpSettings writes every setting with its origin, the key masked.
func DumpSettings(w io.Writer, set *settings.Set) { dumpSettings(w, set, settings.Daemon) }

// depthFor keeps room in each queue for the longest knock, foreign knocks
// it may skip, and strays before it.
func depthFor(cfg engine.Config) int {
	l := cfg.Decoder.Lengths()
	return l[len(l)-1] + cfg.Decoder.Skip() + 8
}

// extraPorts lists the ports beyond the span the sources must report: the
// single-packet authorization port of the sealed mode.
func (d *Daemon) extraPorts() []uint16 {
	if s, ok := d.cfg.Decoder.(engine.SPADecoder); ok && s.SPAPort() != 0 && !d.span.Contains(s.SPAPort()) {
		return []uint16{s.SPAPort()}
	}
	return nil
}

func fieldNames(cfg engine.Config) []string {
	if l, ok := cfg.Decoder.(*engine.Legacy); ok {
		var out []string
		for _, f := range l.Codec.Format().Fields() {
			out = append(out, strings.ToLower(f.String()))
		}
		return out
	}
	return []string{"client", "port", "proto", "duration", "close", "time", "nonce"}
}

func openReplay(set *settings.Set, now func() time.Time) (*replay.Cache, error) {
	path := set.Path("replayfile")
	if path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, set.Errorf("replayfile", "%v", err)
		}
	}
	c, err := replay.Open(path, 0, now)
	if err != nil {
		return nil, set.Errorf("replayfile", "%v", err)
	}
	return c, nil
}

// sourceCounters reads the running source's own counts.
func (d *Daemon) sourceCounters() map[string]uint64 {
	d.mu.Lock()
	src := d.src
	d.mu.Unlock()
	if c, ok := src.(source.Counters); ok {
		return c.Counters()
	}
	return nil
}

// Describe is what the daemon will do, for the start-up log and -test.
func (d *Daemon) Describe() string {
	return describe(d.cfg, d.span) + "\nfirewall:\n" + d.fw.Describe()
}

// Metrics returns the engine's counters.
func (d *Daemon) Metrics() *engine.Metrics { return d.metrics }

// Run installs the firewall (unless -test), starts the source, the
// engine and the metrics endpoint, and runs until ctx ends. Stopping
// leaves the firewall's guard in place: stopping must never open a port.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.close()
	if !d.cfg.DryRun {
		if err := d.fw.Setup(ctx); err != nil {
			return fmt.Errorf("installing the firewall: %w%s", err, permissionHint(err))
		}
	}
	d.log.Info("knockdaemon started", "knock", describe(d.cfg, d.span), "runmode", d.set.String("runmode"), "firewall", d.set.String("firewall"), "dry_run", d.cfg.DryRun)
	for _, k := range d.set.Ignore {
		d.log.Debug("setting of knockclient ignored", "key", k)
	}
	d.warnWeak()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hits := make(chan source.Hit, 4096)
	errc := make(chan error, 3)
	d.startSource(ctx, hits, errc)
	if addr := d.set.String("metrics"); addr != "" {
		if err := d.serveMetrics(ctx, addr); err != nil {
			return err
		}
	}
	go d.repair(ctx)
	engineDone := make(chan error, 1)
	go func() { engineDone <- d.engine.Run(ctx, hits) }()
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-errc:
			cancel()
			break loop
		case r := <-d.reloads:
			rerr := d.reload(ctx, r.set, hits, errc)
			if rerr != nil {
				d.log.Error("reload refused; the daemon goes on as it was", "err", rerr)
			}
			r.done <- rerr
		}
	}
	<-engineDone
	stopCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if serr := d.fw.Stop(stopCtx); serr != nil {
		err = errors.Join(err, serr)
	}
	if d.cfg.DryRun {
		d.log.Info("knockdaemon stopped (test mode: the firewall was never touched)")
	} else {
		d.log.Info("knockdaemon stopped; the firewall guard stays in place")
	}
	return err
}

func (d *Daemon) startSource(ctx context.Context, hits chan<- source.Hit, errc chan<- error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sctx, stop := context.WithCancel(ctx)
	d.srcStop = stop
	src := d.src
	go func() {
		if err := src.Run(sctx, hits); err != nil && sctx.Err() == nil {
			errc <- fmt.Errorf("knock source: %w%s", err, permissionHint(err))
		}
	}()
}

// permissionHint says what to do when the kernel refused for want of
// privilege, the first error a newcomer meets.
func permissionHint(err error) string {
	// Some netlink libraries format the errno instead of wrapping it.
	if errors.Is(err, os.ErrPermission) || strings.Contains(err.Error(), "operation not permitted") {
		return " (the daemon needs root, or CAP_NET_ADMIN and CAP_NET_RAW, to change the firewall and read packets)"
	}
	return ""
}

// repair re-installs the firewall's guard if something removed it (a
// `flush ruleset` by the host's own firewall reload), and sweeps expired
// rules where the backend keeps them.
func (d *Daemon) repair(ctx context.Context) {
	if d.cfg.DryRun {
		return
	}
	t := time.NewTicker(d.opts.Repair)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.fw.Setup(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("firewall check failed", "err", err)
			}
			if s, ok := d.fw.(interface {
				Sweep(context.Context) (int, error)
			}); ok {
				s.Sweep(ctx)
			}
		}
	}
}

func (d *Daemon) serveMetrics(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return d.set.Errorf("metrics", "%v", err)
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		d.log.Warn("metrics are served on a non-loopback address", "addr", ln.Addr())
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", d.reg.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	go func() { <-ctx.Done(); srv.Close() }()
	d.log.Info("metrics served", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// warnWeak says so when the legacy knock leaves garbage or replays a way in.
func (d *Daemon) warnWeak() {
	l, ok := d.cfg.Decoder.(*engine.Legacy)
	if !ok {
		return
	}
	f := l.Codec.Format()
	if !d.cfg.CheckClient || !strings.Contains(f.String(), "CLIENT") {
		d.log.Warn("the legacy knock is not tied to the sender: under a flood, a random sequence that happens to decode may open a protected port to its source; set checkclient = yes with CLIENT in the knock, or use mode = sealed")
	}
	if d.cfg.Replay && !f.HasTime() && !strings.Contains(f.String(), "RAND") && !d.set.Bool("iv") {
		d.log.Warn("every knock of this configuration is the same sequence, so replay protection refuses it again for replayttl after each use; set iv = yes (or add RAND or THIS* fields) on both ends, or use mode = sealed", "replayttl", d.set.Duration("replayttl"))
	}
}

func (d *Daemon) close() {
	if d.replay != nil {
		d.replay.Close()
	}
}
