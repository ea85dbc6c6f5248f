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
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portknock/knock"
	"github.com/portknock/knock/engine"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/command"
	"github.com/portknock/knock/fleet"
	"github.com/portknock/knock/knockd"
	"github.com/portknock/knock/replay"
	"github.com/portknock/knock/settings"
	"github.com/portknock/knock/source"
)

// Options are the daemon's edges.
type Options struct {
	Stderr   io.Writer
	Now      func() time.Time
	Backend  BackendOptions
	Source   SourceOptions
	Log      *slog.Logger     // overrides the logger the settings describe (tests)
	Firewall firewall.Backend // overrides the backend the settings describe (tests)
	Repair   time.Duration    // how often the firewall is checked and repaired (default 5 s)
}

// Daemon is an assembled knockdaemon.
type Daemon struct {
	set     *settings.Set // for placing errors at their setting only
	cfg     *Config
	opts    Options
	log     *slog.Logger
	engine  *engine.Engine
	src     source.Source
	fw      firewall.Backend
	replay  *replay.Cache
	claims  engine.Claims
	fleet   *fleet.Fleet // nil: this gate is alone
	pub     *publisher
	metrics *engine.Metrics
	reg     *prometheus.Registry
	mu      sync.Mutex // guards src for reloads
	srcStop context.CancelFunc
	srcDone chan struct{} // closed when the running source's Run returned
	reloads chan reloadReq
	knockd  *knockd.Runner // knockd doors' commands; nil without knockdconf
}

// New checks every setting and builds every part; nothing runs yet and,
// apart from opening the replay cache (never in -test), nothing on the
// host is changed.
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
	cfg, err := Load(set)
	if err != nil {
		return nil, err
	}
	d := &Daemon{set: set, cfg: cfg, opts: o, reg: newRegistry(), reloads: make(chan reloadReq)}
	if d.log = o.Log; d.log == nil {
		if d.log, err = newLogger(cfg.Log, o.Stderr); err != nil {
			return nil, set.Errorf("logto", "%w", err)
		}
	}
	if d.fw = o.Firewall; d.fw == nil {
		if d.fw, err = newBackend(cfg.Firewall, d.log, o.Backend); err != nil {
			return nil, d.firewallError(err)
		}
	}
	if d.src, err = newSource(cfg.Source, d.log, o.Now, o.Source); err != nil {
		return nil, d.sourceError(err)
	}
	if cfg.Replay.On {
		// -test changes nothing on disk: the cache is read, never written.
		d.replay, err = replay.New(cfg.Replay.File, replay.Options{Window: cfg.Replay.Window, Now: o.Now, ReadOnly: cfg.Test, Log: d.log})
		if err != nil {
			return nil, set.Errorf("replayfile", "%w", err)
		}
		d.claims = localClaims{d.replay}
		cfg.Engine.NotBefore = d.replay.Horizon()
	}
	var granted func(engine.Grant)
	if cfg.Fleet != nil && !cfg.Test {
		fc := *cfg.Fleet
		fc.Logger, fc.Now = d.log, o.Now
		if d.fleet, err = fleet.New(fc); err != nil {
			return nil, set.Errorf("fleet", "%w", err)
		}
		d.claims = chainClaims{d.claims, fleetClaims{d.fleet}}
		if d.replay == nil {
			d.claims = fleetClaims{d.fleet}
		}
		d.pub = newPublisher(d.fleet, d.log)
		granted = d.pub.granted
	}
	d.metrics = engine.NewMetrics(d.reg)
	d.reg.MustRegister(sourceCollector{d.sourceCounters})
	d.engine, err = engine.New(cfg.Engine, engine.Deps{Trackers: cfg.Trackers, Claims: d.claims, Granted: granted, Firewall: d.fw, Log: d.log, Now: o.Now, Metrics: d.metrics})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// firewallError places a backend's refusal at the setting at fault.
func (d *Daemon) firewallError(err error) error {
	switch d.cfg.Firewall.Kind {
	case FirewallCommand:
		name := "opencommand"
		if ce, ok := errors.AsType[*command.ConfigError](err); ok && ce.Template == "stop" {
			name = "closecommand"
		}
		return d.set.Errorf(name, "%w", err)
	case FirewallNFT:
		return d.set.Errorf("nfttable", "%w", err)
	}
	return d.set.Errorf("firewall", "%w", err)
}

// sourceError places a source's refusal at the setting at fault.
func (d *Daemon) sourceError(err error) error {
	switch _, iface := errors.AsType[*interfaceError](err); {
	case iface:
		return d.set.Errorf("interface", "%w", err)
	case d.cfg.Source.Mode == RunFile:
		return d.set.Errorf("logfile", "%w", err)
	case d.cfg.Source.Capture == CaptureAFPacket:
		return d.set.Errorf("interface", "%w", err)
	}
	return d.set.Errorf("capture", "%w", err)
}

// NewDecoder builds only what deciding takes, for knockdaemon -decode: no
// source, no firewall, and the replay cache as it is on disk, read and
// never written.
func NewDecoder(set *settings.Set) (*Daemon, error) {
	cfg, err := Load(set)
	if err != nil {
		return nil, err
	}
	cfg.Engine.DryRun = true
	d := &Daemon{set: set, cfg: cfg, reg: prometheus.NewRegistry(), log: slog.New(slog.DiscardHandler)}
	if cfg.Replay.On {
		d.replay, err = replay.New(cfg.Replay.File, replay.Options{Window: cfg.Replay.Window, ReadOnly: true})
		if err != nil {
			return nil, set.Errorf("replayfile", "%w", err)
		}
		d.claims = localClaims{d.replay}
	}
	d.metrics = engine.NewMetrics(d.reg)
	d.engine, err = engine.New(cfg.Engine, engine.Deps{Trackers: cfg.Trackers, Claims: d.claims, Firewall: noFirewall{}, Log: d.log, Metrics: d.metrics})
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

// Describe is what the daemon will do, for the start-up log and -test.
func (d *Daemon) Describe() string {
	return describe(d.cfg.Engine) + "\nfirewall:\n" + d.fw.Describe()
}

// Metrics returns the engine's counters.
func (d *Daemon) Metrics() *engine.Metrics { return d.metrics }

// Run installs the firewall (unless -test), starts the source, the
// engine and the metrics endpoint, and runs until ctx ends. Stopping
// leaves the firewall's guard in place: stopping must never open a port.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.close()
	limitMemory()
	if !d.cfg.Test {
		if err := d.fw.Setup(ctx); err != nil {
			return fmt.Errorf("installing the firewall: %w%s", err, permissionHint(err))
		}
	}
	for _, k := range d.cfg.Ignored {
		d.log.Debug("setting of knockclient ignored", "key", k)
	}
	for _, w := range d.cfg.Warnings {
		d.log.Warn(w)
	}
	if !d.fw.Durable() {
		d.log.Warn("the firewall backend's grants end only when this daemon runs their stop command: a daemon that is killed leaves them open until it restarts; prefer firewall = nft")
	}

	var err error
	if d.knockd, err = startKnockd(d.cfg, d.log); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hits := make(chan source.Hit, 4096)
	errc := make(chan error, 3)
	d.startSource(ctx, hits, errc)
	if err := d.sourceReady(ctx, errc); err != nil {
		return err
	}
	if d.cfg.Metrics != "" {
		if err := d.serveMetrics(ctx, d.cfg.Metrics); err != nil {
			return err
		}
	}
	if d.cfg.Control != "" && !d.cfg.Test {
		if err := d.serveControl(ctx, d.cfg.Control); err != nil {
			return err
		}
	}
	if d.fleet != nil {
		go d.pub.run(ctx)
		go func() {
			if err := d.fleet.Run(ctx, currentFirewall{d}); err != nil && ctx.Err() == nil {
				d.log.Error("fleet: the grant feed stopped", "err", err)
			}
		}()
		d.log.Info("fleet: claims and grants shared through Redis", "gate", d.cfg.Fleet.Gate, "group", d.cfg.Fleet.Group, "on_failure", d.cfg.Fleet.OnFailure.String())
	}
	go d.repair(ctx)
	go d.watchCapture(ctx)
	engineDone := make(chan error, 1)
	go func() { engineDone <- d.engine.Run(ctx, hits) }()
	d.log.Info("knockdaemon started", "knock", describe(d.cfg.Engine), "runmode", d.cfg.Source.Mode, "firewall", d.cfg.Firewall.Kind, "dry_run", d.cfg.Test)
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
	if d.knockd != nil {
		// The doors' stop commands still pending run now, as knockd's
		// orphaned children would have run them later.
		d.knockd.Close()
	}
	stopCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	if serr := d.fw.Stop(stopCtx); serr != nil {
		err = errors.Join(err, serr)
	}
	if d.cfg.Test {
		d.log.Info("knockdaemon stopped (test mode: the firewall was never touched)")
	} else {
		d.log.Info("knockdaemon stopped; the firewall guard stays in place")
	}
	return err
}

// readyTimeout bounds how long a source may take to bind its socket,
// install its rule or attach its program before start-up fails.
const readyTimeout = 30 * time.Second

// sourceReady waits until the source sees knocks, so that "knockdaemon
// started" is true when it is logged, or returns the source's error.
func (d *Daemon) sourceReady(ctx context.Context, errc <-chan error) error {
	r, ok := d.src.(source.Readier)
	if !ok {
		return nil
	}
	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	select {
	case <-r.Ready():
		return nil
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("knock source: not ready after %s", readyTimeout)
	}
}

// minMemoryLimit is the least soft memory limit the daemon sets itself.
const minMemoryLimit = 64 << 20

// gcPercent is the collector's target the daemon sets itself (GOGC).
const gcPercent = 25

// limitMemory sets a soft memory limit for the Go runtime, unless the
// operator set one (GOMEMLIMIT). The daemon's tables are allocated at
// start and never grow, so under a flood only garbage does: with a limit
// the collector runs sooner instead of letting the resident memory climb
// (55 to 89 MiB was seen) until the host's OOM killer picks a process.
// The limit is 64 MiB, or twice the heap in use at start if the tracker
// was sized larger, so that the collector never has to run all the time.
//
// It also lowers the collector's target, unless GOGC is set: the default
// lets the heap grow by as much again as is live, and most of what is live
// here is the tracker's fixed tables (11 MiB at the defaults), so garbage
// could take as much again before a collection. The receive paths do not
// allocate per packet (10 million flood packets on the packet socket
// allocated 8.8 MB in all, 5 collections), so collecting at 25% costs no
// measurable CPU and leaves garbage a quarter of the live heap.
func limitMemory() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	debug.SetMemoryLimit(max(minMemoryLimit, 2*int64(m.HeapAlloc)))
}

func (d *Daemon) startSource(ctx context.Context, hits chan<- source.Hit, errc chan<- error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	d.srcStop, d.srcDone = stop, done
	src := d.src
	go func() {
		defer close(done)
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
// rules where the backend keeps them. A backend that can watch its table
// (nft) reports a deletion as the kernel announces it, and the guard is
// back at once instead of at the next check: until then the protected
// ports are open to everyone.
func (d *Daemon) repair(ctx context.Context) {
	if d.cfg.Test {
		return
	}
	t := time.NewTicker(d.opts.Repair)
	defer t.Stop()
	var (
		watched firewall.Backend
		removed <-chan struct{}
		unwatch = func() {}
	)
	defer func() { unwatch() }()
	for {
		if fw := d.firewall(); fw != watched {
			// First run, or a reload replaced the backend.
			unwatch()
			watched, removed, unwatch = fw, nil, func() {}
			if w, ok := fw.(interface {
				Watch(context.Context) <-chan struct{}
			}); ok {
				wctx, cancel := context.WithCancel(ctx)
				removed, unwatch = w.Watch(wctx), cancel
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-removed:
			if err := watched.Setup(ctx); err != nil {
				if ctx.Err() == nil {
					d.log.Error("the firewall guard was removed (flush ruleset?) and could not be put back", "err", err)
				}
				continue
			}
			d.log.Warn("the firewall guard was removed (flush ruleset?) and is back")
		case <-t.C:
			if err := d.firewall().Setup(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("firewall check failed", "err", err)
			}
			if _, err := d.firewall().Sweep(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("firewall sweep failed", "err", err)
			}
		}
	}
}

func (d *Daemon) close() {
	if d.fleet != nil {
		d.fleet.Close()
	}
	if d.replay != nil {
		d.replay.Close()
	}
}

// Uninstall removes what the firewall backend of set installed. It reads
// only the firewall's settings, so a knock configuration that no longer
// loads (a lost key file, a bad span) never keeps an operator from
// removing the rules.
func Uninstall(ctx context.Context, set *settings.Set, o Options) error {
	prot, err := protected(set)
	if err != nil || len(prot) == 0 {
		// The backends check their protected ports even though removing
		// their tables does not need them.
		prot = []knock.Port{{Proto: knock.TCP, Port: 22}}
	}
	fc, err := loadFirewall(set, engine.Config{Protected: prot})
	if err != nil {
		return err
	}
	if fc.Kind == FirewallCommand {
		return nil // commands install nothing
	}
	fw := o.Firewall
	if fw == nil {
		if fw, err = newBackend(fc, slog.New(slog.DiscardHandler), o.Backend); err != nil {
			return set.Errorf("firewall", "%w", err)
		}
	}
	return fw.Uninstall(ctx)
}
