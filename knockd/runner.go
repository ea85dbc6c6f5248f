package knockd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultCommandLimit is how long a command may run before it is killed.
const DefaultCommandLimit = 30 * time.Second

// DefaultMaxStarts is how many start commands may run at once.
const DefaultMaxStarts = 64

// ErrClosed is returned by Open after Close.
var ErrClosed = errors.New("knockd runner closed")

// ErrBusy is returned by Open when MaxStarts start commands are already
// running: the open is dropped, nothing runs. knockd forks without limit,
// so a flood that completes sequences by chance (docs/knockd.md) forks a
// shell per open.
var ErrBusy = errors.New("too many start commands running")

// ErrTooLong is returned for a command that grows beyond knockd's limit
// once %IP% is substituted; knockd then runs neither command.
var ErrTooLong = errors.New("command too long")

// Executor runs one shell command. ctx carries the time limit.
type Executor interface {
	Run(ctx context.Context, command string) error
}

// Shell runs commands as knockd's system(3) does: Path -c command. At the
// time limit the command's whole process group is killed.
type Shell struct {
	Path string // "/bin/sh" if empty
}

// Run runs command and waits for it.
func (s Shell) Run(ctx context.Context, command string) error {
	path := s.Path
	if path == "" {
		path = "/bin/sh"
	}
	cmd := exec.CommandContext(ctx, path, "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return fmt.Errorf("command %q: %w: %s", command, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Clock is the Runner's time: its Now and timers.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is what Clock.AfterFunc returns.
type Timer interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Expand substitutes every %IP% in command with src, as knockd does, and
// fails with ErrTooLong beyond knockd's 4095 bytes.
func Expand(command string, src netip.Addr) (string, error) {
	out := strings.ReplaceAll(command, "%IP%", src.WithZone("").String())
	if len(out) > maxCommand {
		return "", fmt.Errorf("%d bytes after %%IP%%, at most %d: %w", len(out), maxCommand, ErrTooLong)
	}
	return out, nil
}

// RunnerConfig sets up a Runner.
type RunnerConfig struct {
	Exec         Executor      // Shell{} if nil
	Clock        Clock         // the real clock if nil
	StateFile    string        // pending stops; "" keeps none
	CommandLimit time.Duration // DefaultCommandLimit if 0
	MaxStarts    int           // DefaultMaxStarts if 0
	// Log reports what knockd would log: commands run, their failures.
	Log func(format string, args ...any)
}

// Runner runs the commands of opened doors as knockd does: the start
// command at once, the stop command Cmd_Timeout after the start command
// ended. Close runs the stops still pending.
type Runner struct {
	rc      RunnerConfig
	mu      sync.Mutex
	closed  bool
	nextID  int
	pending map[int]*pending
	starts  sync.WaitGroup // start commands running
	running int            // start commands running, at most MaxStarts
	stops   sync.WaitGroup // stop commands running
}

type pending struct {
	stop  Stop
	timer Timer // nil until the start command ended
}

// NewRunner returns a Runner. It empties the state file: call LostStops
// first to learn what a previous run left.
func NewRunner(rc RunnerConfig) (*Runner, error) {
	if rc.Exec == nil {
		rc.Exec = Shell{}
	}
	if rc.Clock == nil {
		rc.Clock = realClock{}
	}
	if rc.CommandLimit <= 0 {
		rc.CommandLimit = DefaultCommandLimit
	}
	if rc.MaxStarts <= 0 {
		rc.MaxStarts = DefaultMaxStarts
	}
	if rc.Log == nil {
		rc.Log = func(string, ...any) {}
	}
	r := &Runner{rc: rc, pending: map[int]*pending{}}
	if err := r.save(); err != nil {
		return nil, err
	}
	return r, nil
}

// Open runs ev's door's commands for its source, in the background.
func (r *Runner) Open(ev Event) error {
	start, stop, hasStop := ev.Door.Commands(ev.Src)
	if start == "" {
		return nil
	}
	start, err := Expand(start, ev.Src)
	if err != nil {
		return fmt.Errorf("door %q: start command: %w", ev.Door.Name, err)
	}
	if hasStop {
		if stop, err = Expand(stop, ev.Src); err != nil {
			return fmt.Errorf("door %q: stop command: %w", ev.Door.Name, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if r.running >= r.rc.MaxStarts {
		return fmt.Errorf("door %q for %s: %w", ev.Door.Name, ev.Src, ErrBusy)
	}
	r.running++
	id := -1
	if hasStop {
		// Recorded before the start command runs: a crash from now on
		// loses this stop, and the next start must say so.
		r.nextID++
		id = r.nextID
		due := r.rc.Clock.Now().Add(ev.Door.CmdTimeout)
		r.pending[id] = &pending{stop: Stop{Door: ev.Door.Name, Source: ev.Src, Command: stop, Due: due}}
		if err := r.save(); err != nil {
			r.rc.Log("%v", err)
		}
	}
	r.starts.Add(1)
	go r.runStart(ev.Door, start, id)
	return nil
}

func (r *Runner) runStart(d *Door, start string, id int) {
	defer r.starts.Done()
	r.run(d.Name, start)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running--
	if id < 0 {
		return
	}
	p := r.pending[id]
	if p == nil || r.closed {
		return // Close runs it
	}
	p.stop.Due = r.rc.Clock.Now().Add(d.CmdTimeout)
	if err := r.save(); err != nil {
		r.rc.Log("%v", err)
	}
	p.timer = r.rc.Clock.AfterFunc(d.CmdTimeout, func() { r.fire(id) })
}

// fire runs pending stop id, unless Close took it.
func (r *Runner) fire(id int) {
	r.mu.Lock()
	p := r.pending[id]
	if p == nil || r.closed {
		r.mu.Unlock()
		return
	}
	r.stops.Add(1)
	r.mu.Unlock()
	defer r.stops.Done()
	r.rc.Log("%s: %s: command timeout", p.stop.Source, p.stop.Door)
	r.run(p.stop.Door, p.stop.Command)
	r.done(id)
}

func (r *Runner) done(id int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, id)
	if err := r.save(); err != nil {
		r.rc.Log("%v", err)
	}
}

func (r *Runner) run(door, command string) {
	ctx, cancel := context.WithTimeout(context.Background(), r.rc.CommandLimit)
	defer cancel()
	r.rc.Log("%s: running command: %s", door, command)
	if err := r.rc.Exec.Run(ctx, command); err != nil {
		r.rc.Log("%s: %v", door, err)
	}
}

// Close refuses new opens, waits for the start commands running, runs
// every stop still pending at once, and returns when they have ended.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.starts.Wait()
	r.stops.Wait() // stops already firing
	r.mu.Lock()
	left := map[int]Stop{}
	for id, p := range r.pending {
		if p.timer != nil {
			p.timer.Stop()
		}
		left[id] = p.stop
	}
	r.mu.Unlock()
	for id, s := range left {
		r.run(s.Door, s.Command)
		r.done(id)
	}
	return nil
}

// Pending returns the stops scheduled and not yet run.
func (r *Runner) Pending() []Stop {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.list()
}
