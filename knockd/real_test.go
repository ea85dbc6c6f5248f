package knockd

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
)

const installKnockd = "apt-get install knockd"

// realKnockd is Debian's knockd 0.8 running in a test namespace, with -v:
// its stdout tells when it listens and each stage it sees.
type realKnockd struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	cond *sync.Cond
	out  []string
	done bool
}

func needKnockd(t *testing.T) string {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	return testenv.NeedCommand(t, "knockd", installKnockd)
}

// startKnockd runs knockd -i eth0 -c conf -v in ns. It returns once
// knockd listens, or with the output if it exited instead.
func startKnockd(t *testing.T, ns *netnstest.NS, conf string) (*realKnockd, error) {
	t.Helper()
	k := &realKnockd{cmd: ns.Command("knockd", "-i", "eth0", "-c", conf, "-v")}
	k.cond = sync.NewCond(&k.mu)
	stdout, err := k.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	k.cmd.Stderr = k.cmd.Stdout
	if err := k.cmd.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(k.stop)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			k.mu.Lock()
			k.out = append(k.out, sc.Text())
			k.cond.Broadcast()
			k.mu.Unlock()
		}
		k.cmd.Wait()
		k.mu.Lock()
		k.done = true
		k.cond.Broadcast()
		k.mu.Unlock()
	}()
	if !k.waitLine("listening on", 10*time.Second) {
		return nil, fmt.Errorf("knockd did not start: %s", k.output())
	}
	return k, nil
}

// waitLine waits for a line of output containing s; false if knockd
// exits or the time runs out first.
func (k *realKnockd) waitLine(s string, limit time.Duration) bool {
	return k.waitCount(s, 1, limit)
}

// waitCount waits for n lines of output containing s.
func (k *realKnockd) waitCount(s string, n int, limit time.Duration) bool {
	timer := time.AfterFunc(limit, func() { k.mu.Lock(); k.cond.Broadcast(); k.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(limit)
	k.mu.Lock()
	defer k.mu.Unlock()
	for {
		seen := 0
		for _, l := range k.out {
			if strings.Contains(l, s) {
				seen++
			}
		}
		if seen >= n {
			return true
		}
		if k.done || time.Now().After(deadline) {
			return false
		}
		k.cond.Wait()
	}
}

func (k *realKnockd) lines(s string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, l := range k.out {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

func (k *realKnockd) output() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.Join(k.out, "\n")
}

func (k *realKnockd) stop() {
	if k.cmd.Process != nil {
		k.cmd.Process.Kill()
	}
}

// localAddrs lists the addresses of eth0 in ns, as knockd reads them.
func localAddrs(t *testing.T, ns *netnstest.NS) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, line := range strings.Split(ns.MustRun("ip", "-o", "addr", "show", "dev", "eth0"), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" || f[i] == "inet6" {
				p, err := netip.ParsePrefix(f[i+1])
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, p.Addr())
			}
		}
	}
	return out
}

// TestConfVectorsKnockd checks the "# knockd:" line of each configuration
// vector against the real knockd: does it start with the file?
func TestConfVectorsKnockd(t *testing.T) {
	needKnockd(t)
	p := netnstest.NewPair(t)
	dir := t.TempDir()
	for _, v := range confVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			conf := filepath.Join(dir, v.name+".conf")
			if err := os.WriteFile(conf, []byte(v.text), 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := startKnockd(t, p.Host, conf)
			got := "accepts"
			if err != nil {
				got = "refuses"
			} else {
				k.stop()
			}
			if got != v.knockd {
				t.Errorf("knockd %s it, the vector says %s (%v)", got, v.knockd, err)
			}
		})
	}
}
