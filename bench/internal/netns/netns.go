// Package netns names, finds and removes the harness's network
// namespaces. The namespaces themselves are package internal/netns's
// (run commands and code inside, delete); what the harness adds is a name
// of its own, kbench<pid>-<role>, so that it can clean up after itself
// on error and on Ctrl-C, and find and remove what a harness killed with
// SIGKILL left behind, without ever touching another program's
// namespaces.
package netns

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	base "github.com/portknock/knock/internal/netns"
)

// NS is one network namespace.
type NS = base.NS

// Prefix starts the name of every namespace the harness makes; the
// creating process's id follows it.
const Prefix = "kbench"

// New creates the namespace PREFIX<pid>-role, loopback up.
func New(role string) (*NS, error) {
	name := fmt.Sprintf("%s%d-%s", Prefix, os.Getpid(), role)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	n := &NS{Name: name}
	if _, err := n.Run("ip", "link", "set", "lo", "up"); err != nil {
		n.Delete()
		return nil, err
	}
	return n, nil
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
		if len(f) == 0 {
			continue
		}
		pid, ok := OwnerPid(f[0])
		if !ok || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // not the harness's, or its harness still runs
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
