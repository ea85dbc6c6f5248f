package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portknock/knock/bench/internal/netns"
	"github.com/portknock/knock/bench/internal/proc"
)

// process is a daemon the harness started inside a namespace. `ip netns
// exec` execs the daemon in place, so the process id is the daemon's and
// /proc/PID accounts its CPU and memory.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	mu      sync.Mutex
	err     error
}

// startProcess starts bin in ns with its output in logPath.
func startProcess(ns *netns.NS, name, logPath, bin string, args ...string) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644) // a restart appends
	if err != nil {
		return nil, err
	}
	cmd := ns.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so that Ctrl-C reaches only the harness, which
	// stops the daemons itself, and so that kill reaches its commands too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process still runs.
func (p *process) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// exitErr is how the process ended (nil while it runs).
func (p *process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// stop asks the daemon to end (SIGTERM), and kills it and its process
// group after grace.
func (p *process) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// kill sends SIGKILL to the daemon and its process group (commands it
// runs), and waits for it.
func (p *process) kill() {
	if !p.alive() {
		return
	}
	syscall.Kill(-p.pid(), syscall.SIGKILL)
	p.cmd.Process.Kill()
	<-p.done
}

// sample reads the daemon's CPU time and memory.
func (p *process) sample() (proc.Sample, error) { return proc.Read(p.pid()) }

// logTail is the end of the daemon's output, for error messages.
func (p *process) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
