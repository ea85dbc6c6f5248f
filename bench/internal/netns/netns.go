// Package netns builds the harness's network namespaces and runs code and
// commands inside them. It is internal/netnstest without the testing.TB:
// the harness is a program, and must clean up on its own (on error and on
// Ctrl-C), so every namespace it makes is named after the harness's
// process and can be found and removed again, also after a crash.
//
// Nothing here touches the root namespace beyond creating and deleting
// the namespaces' files: links, addresses, routes and firewall rules are
// always made inside (ip -n NAME ..., or on a thread switched with Do).
package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Prefix starts the name of every namespace the harness makes; the
// creating process's id follows it.
const Prefix = "kbench"

// NS is one network namespace.
type NS struct {
	Name string
}

// New creates the namespace PREFIX<pid>-role, loopback up.
func New(role string) (*NS, error) {
	name := fmt.Sprintf("%s%d-%s", Prefix, os.Getpid(), role)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", name, err, out)
	}
	n := &NS{Name: name}
	if _, err := n.Run("ip", "link", "set", "lo", "up"); err != nil {
		n.Delete()
		return nil, err
	}
	return n, nil
}

// Delete kills what still runs inside (only the harness's processes and
// their children can be there) and removes the namespace.
func (n *NS) Delete() error {
	for _, pid := range n.Pids() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %w: %s", n.Name, err, out)
	}
	return nil
}

// Pids lists the processes inside.
func (n *NS) Pids() []int {
	out, err := exec.Command("ip", "netns", "pids", n.Name).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// Command returns a command that runs inside.
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a command inside and returns its combined output.
func (n *NS) Run(args ...string) (string, error) {
	out, err := n.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %w: %s", n.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Path is the namespace's file.
func (n *NS) Path() string { return "/run/netns/" + n.Name }

// Do runs f on an OS thread switched into the namespace: sockets f opens
// belong to it. The thread is switched back before it is released.
func (n *NS) Do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(n.Path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.Name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Never unlock a thread left in the wrong namespace: the
			// runtime retires it with the goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Stale lists namespaces of earlier harness runs whose process is gone:
// left behind by a crash or a kill -9, safe to delete.
func Stale() []*NS {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var stale []*NS
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], Prefix) {
			continue
		}
		pid, ok := OwnerPid(f[0])
		if !ok || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // its harness still runs
		}
		stale = append(stale, &NS{Name: f[0]})
	}
	return stale
}

// OwnerPid reads the harness's process id from a namespace name.
func OwnerPid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(num)
	return pid, err == nil && pid > 0
}
