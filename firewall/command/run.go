package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"syscall"
	"time"
)

// Defaults of Config.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxOutput = 4096 // bytes kept of each of stdout and stderr
)

// ErrTimeout is a command killed at its time limit.
var ErrTimeout = errors.New("command ran out of time")

// RunError is a command that failed to start, exited non-zero, or was
// killed at its limit.
type RunError struct {
	Template string   // "start" or "stop"
	Argv     []string // the command line run
	Err      error
	Stderr   string // bounded
}

func (e *RunError) Error() string {
	return fmt.Sprintf("%s command %q: %v; stderr: %q", e.Template, e.Argv, e.Err, e.Stderr)
}

func (e *RunError) Unwrap() error { return e.Err }

// runner runs commands with a limit, in their own process group.
type runner struct {
	timeout   time.Duration
	maxOutput int
	log       *slog.Logger
}

// run runs argv and logs what it printed. When the limit expires, the
// whole process group is killed; processes that left the group (setsid)
// are not waited for beyond a second after that.
func (r *runner) run(ctx context.Context, template string, argv []string) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(parent, r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The leader is not yet reaped, so its pid still names the group.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second
	stdout, stderr := &capped{max: r.maxOutput}, &capped{max: r.maxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	began := time.Now()
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // it exited well; a leftover process held its output open
	}
	switch {
	case err == nil || ctx.Err() == nil:
	case parent.Err() != nil:
		err = fmt.Errorf("%w: %v", parent.Err(), err)
	default:
		err = fmt.Errorf("%w (limit %s): %v", ErrTimeout, r.timeout, err)
	}
	attrs := []any{"template", template, "argv", argv, "elapsed", time.Since(began),
		"stdout", stdout.String(), "stderr", stderr.String()}
	if err != nil {
		r.log.Warn("command failed", append(attrs, "err", err)...)
		return &RunError{Template: template, Argv: argv, Err: err, Stderr: stderr.String()}
	}
	r.log.Info("command ran", attrs...)
	return nil
}

// capped keeps the first max bytes written to it and counts the rest.
type capped struct {
	max     int
	buf     []byte
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	room := min(c.max-len(c.buf), len(p))
	c.buf = append(c.buf, p[:room]...)
	c.dropped += len(p) - room
	return len(p), nil
}

func (c *capped) String() string {
	if c.dropped > 0 {
		return fmt.Sprintf("%s... (%d more bytes)", c.buf, c.dropped)
	}
	return string(c.buf)
}
