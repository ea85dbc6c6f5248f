package command

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
)

// ErrShutdown is an Open after Shutdown.
var ErrShutdown = errors.New("command backend is shut down")

// ErrBadGrant is a grant the backend cannot act on.
var ErrBadGrant = errors.New("invalid grant")

// Config configures a Backend.
type Config struct {
	// Start is run by Open; Stop when the grant's duration has passed,
	// by Close, and by Shutdown. Both are required: without a stop
	// command access would never end.
	Start, Stop string
	// Fields are the knock's field names the templates may use, as
	// %NAME%, in any case.
	Fields []string
	// Timeout limits each run; DefaultTimeout when zero.
	Timeout time.Duration
	// MaxOutput bounds the bytes of stdout and of stderr kept for the
	// log; DefaultMaxOutput when zero.
	MaxOutput int
	// Clock schedules the stop commands; SystemClock when nil.
	Clock Clock
	// Log receives every run with its output; nothing is logged when nil.
	Log *slog.Logger
}

// Backend is a firewall.Backend that runs commands.
type Backend struct {
	start, stop *Template
	text        [2]string // the start and stop templates as written
	run         runner
	clock       Clock

	mu      sync.Mutex // held while a command runs: one at a time
	pending map[target]*pending
	gen     uint64
	shut    bool
}

// target is what a grant opens: Open again on the same target reschedules.
type target struct {
	addr  netip.Addr
	proto knock.Proto
	port  uint16
}

// pending is a scheduled stop command.
type pending struct {
	grant firewall.Grant
	argv  []string
	timer Timer
	gen   uint64
}

// New parses the templates and finds their programs.
func New(cfg Config) (*Backend, error) {
	b := &Backend{pending: map[target]*pending{}, clock: cfg.Clock, text: [2]string{cfg.Start, cfg.Stop},
		run: runner{timeout: cfg.Timeout, maxOutput: cfg.MaxOutput, log: cfg.Log}}
	if b.clock == nil {
		b.clock = SystemClock
	}
	if b.run.timeout <= 0 {
		b.run.timeout = DefaultTimeout
	}
	if b.run.maxOutput <= 0 {
		b.run.maxOutput = DefaultMaxOutput
	}
	if b.run.log == nil {
		b.run.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var err error
	if b.start, err = configure("start", cfg.Start, cfg.Fields); err != nil {
		return nil, &ConfigError{Template: "start", Err: err}
	}
	if b.stop, err = configure("stop", cfg.Stop, cfg.Fields); err != nil {
		return nil, &ConfigError{Template: "stop", Err: err}
	}
	return b, nil
}

// ConfigError is a template New refused, and which one, so that the
// caller can point at the setting it came from.
type ConfigError struct {
	Template string // "start" or "stop"
	Err      error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// configure parses a template and resolves its program once, so that a
// missing program stops start-up rather than the first knock.
func configure(name, text string, fields []string) (*Template, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("%s command template is empty (use /bin/true for one that does nothing): %w", name, ErrTemplate)
	}
	t, err := Parse(name, text, fields)
	if err != nil {
		return nil, err
	}
	prog := t.words[0][0].lit
	path, err := exec.LookPath(prog)
	if err != nil {
		return nil, fmt.Errorf("%s command template %q: program %q: %w", name, text, prog, err)
	}
	t.words[0][0].lit = path
	return t, nil
}

// Open implements firewall.Backend: it runs the start command and
// schedules the stop command after g.Duration, replacing a stop already
// scheduled for the same address and port. If the start command fails, a
// stop is still scheduled (unless one already is), since it may have
// opened something before failing.
func (b *Backend) Open(ctx context.Context, g firewall.Grant) error {
	t, err := check(g)
	if err != nil {
		return err
	}
	if g.Duration <= 0 {
		return fmt.Errorf("command: duration %s: %w", g.Duration, ErrBadGrant)
	}
	v := values(g)
	startArgv, err := b.start.Expand(v)
	if err != nil {
		return err
	}
	// Built before anything runs: never open what could not be stopped.
	stopArgv, err := b.stop.Expand(v)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shut {
		return ErrShutdown
	}
	if p := b.pending[t]; p != nil {
		// Already open: a repeated knock extends the grant. The start
		// command does not run again, and the stop that is scheduled
		// stays the one matching what was started: one open, one close,
		// whatever the number of knocks.
		b.schedule(t, g, p.argv)
		return nil
	}
	err = b.run.run(ctx, "start", startArgv)
	if err != nil && b.pending[t] != nil {
		return err
	}
	b.schedule(t, g, stopArgv)
	return err
}

// schedule (with mu held) replaces the stop pending for t.
func (b *Backend) schedule(t target, g firewall.Grant, argv []string) {
	if old := b.pending[t]; old != nil {
		old.timer.Stop()
	}
	b.gen++
	p := &pending{grant: g, argv: argv, gen: b.gen}
	p.timer = b.clock.AfterFunc(g.Duration, func() { b.expire(t, p.gen) })
	b.pending[t] = p
}

// expire runs the stop command of a grant whose time is up, unless it was
// rescheduled or closed meanwhile.
func (b *Backend) expire(t target, gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pending[t]
	if p == nil || p.gen != gen {
		return
	}
	delete(b.pending, t)
	if err := b.run.run(context.Background(), "stop", p.argv); err != nil {
		b.run.log.Error("grant may still be open: its stop command failed",
			"addr", t.addr, "proto", t.proto, "port", t.port, "err", err)
	}
}

// Close implements firewall.Backend: it runs the stop command at once,
// with the values of the Open it stops if one is pending, else with g's.
// If the stop command fails, a pending stop stays scheduled.
func (b *Backend) Close(ctx context.Context, g firewall.Grant) error {
	t, err := check(g)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pending[t]
	argv := []string(nil)
	if p != nil {
		argv = p.argv
	} else if argv, err = b.stop.Expand(values(g)); err != nil {
		return err
	}
	if err := b.run.run(ctx, "stop", argv); err != nil {
		return err
	}
	if p != nil {
		p.timer.Stop()
		delete(b.pending, t)
	}
	return nil
}

// Shutdown runs every pending stop command now, so that stopping the
// daemon leaves nothing open, and refuses further Opens. It returns the
// failures, each naming its command.
func (b *Backend) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shut = true
	var errs []error
	for _, t := range b.targets() {
		p := b.pending[t]
		p.timer.Stop()
		delete(b.pending, t)
		if err := b.run.run(ctx, "stop", p.argv); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Pending lists the grants whose stop command is scheduled, by address,
// protocol and port.
func (b *Backend) Pending() []firewall.Grant {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []firewall.Grant
	for _, t := range b.targets() {
		out = append(out, b.pending[t].grant)
	}
	return out
}

// targets (with mu held) are the pending targets, sorted.
func (b *Backend) targets() []target {
	ts := slices.Collect(maps.Keys(b.pending))
	slices.SortFunc(ts, func(x, y target) int {
		return cmp.Or(x.addr.Compare(y.addr), cmp.Compare(x.proto, y.proto), cmp.Compare(x.port, y.port))
	})
	return ts
}

// check validates the address, protocol and port of g.
func check(g firewall.Grant) (target, error) {
	a := g.Addr.Unmap()
	if !a.IsValid() || a.Zone() != "" {
		return target{}, fmt.Errorf("command: address %q: %w", g.Addr.String(), ErrBadGrant)
	}
	if (g.Proto != knock.TCP && g.Proto != knock.UDP) || g.Port == 0 {
		return target{}, fmt.Errorf("command: port %q: %w", fmt.Sprintf("%s/%d", g.Proto, g.Port), ErrBadGrant)
	}
	return target{a, g.Proto, g.Port}, nil
}

// values are the placeholders' values for g; built-in names win over
// knock fields of the same name.
func values(g firewall.Grant) map[string]string {
	v := map[string]string{}
	for k, x := range g.Fields {
		v[strings.ToUpper(k)] = x
	}
	v["IP"] = g.Addr.Unmap().String()
	v["PORT"] = strconv.Itoa(int(g.Port))
	v["PROTO"] = string(g.Proto)
	v["TIME"] = strconv.FormatInt(ceilDiv(g.Duration, time.Minute), 10)
	v["SECONDS"] = strconv.FormatInt(ceilDiv(g.Duration, time.Second), 10)
	return v
}

func ceilDiv(d, unit time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	q := d / unit
	if d%unit != 0 {
		q++
	}
	return int64(q)
}

var _ firewall.Backend = (*Backend)(nil)

// Setup implements firewall.Backend: commands need nothing installed.
func (b *Backend) Setup(context.Context) error { return nil }

// Uninstall implements firewall.Backend: nothing was installed.
func (b *Backend) Uninstall(context.Context) error { return nil }

// Sweep implements firewall.Backend: stop commands run on their own timers.
func (b *Backend) Sweep(context.Context) (int, error) { return 0, nil }

// Stop implements firewall.Backend: every pending stop command runs now.
func (b *Backend) Stop(ctx context.Context) error { return b.Shutdown(ctx) }

// Grants implements firewall.Backend: the grants whose stop command is
// pending.
func (b *Backend) Grants(context.Context) ([]firewall.Grant, error) { return b.Pending(), nil }

// Durable implements firewall.Backend: access ends only when this process
// runs the stop command, so a killed daemon leaves it open.
func (b *Backend) Durable() bool { return false }

// Describe implements firewall.Backend.
func (b *Backend) Describe() string {
	return fmt.Sprintf("commands: open %q, close %q", b.text[0], b.text[1])
}
