// Package e2e proves the whole product on real packets: knockdaemon and
// knockclient, built from this tree, run in two network namespaces joined
// by veth, with real nftables rules and a real TCP service on a protected
// port. A connection fails before the knock, succeeds after it, and fails
// again when the grant's time is up.
//
// The tests need root, iproute2 and nftables; they skip without them on a
// developer's machine and fail in CI (KNOCK_CI=1).
package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
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

var bin string // directory of the built commands

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "knock-e2e-")
	if err != nil {
		panic(err)
	}
	out, err := exec.Command("go", "build", "-o", dir, "../cmd/knockclient", "../cmd/knockdaemon").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the commands: %v\n%s", err, out)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lab is one host/client pair with a service on the host.
type lab struct {
	t    *testing.T
	pair *netnstest.Pair
	dir  string
}

func newLab(t *testing.T) *lab {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	testenv.NeedCommand(t, "nft", "apt-get install nftables")
	l := &lab{t: t, pair: netnstest.NewPair(t), dir: t.TempDir()}
	l.serve(22)
	return l
}

// serve runs a TCP echo service on port inside the host namespace.
func (l *lab) serve(port int) { serveEcho(l.t, l.pair.Host, port) }

// serveEcho runs a TCP echo service on port inside ns until the test ends.
func serveEcho(t *testing.T, ns interface{ Do(func() error) error }, port int) {
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf("[::]:%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
}

// dropByDefault loads a host ruleset that drops everything it does not
// allow, with the two sets the daemon fills in existing-table mode.
func (l *lab) dropByDefault() {
	rules := `
table inet filter {
	set portknock4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }
	set portknock6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept
		ip saddr . meta l4proto . th dport @portknock4 accept
		ip6 saddr . meta l4proto . th dport @portknock6 accept
	}
}
`
	path := filepath.Join(l.dir, "host.nft")
	os.WriteFile(path, []byte(rules), 0o600)
	l.pair.Host.MustRun("nft", "-f", path)
}

// canConnect reports whether a TCP connection from the client namespace
// to the host's port is accepted (and echoes).
func (l *lab) canConnect(host netip.Addr, port int) bool {
	ok := false
	l.pair.Client.Do(func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(host, uint16(port)).String(), 300*time.Millisecond)
		if err != nil {
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			return nil
		}
		b := make([]byte, 1)
		_, err = io.ReadFull(c, b)
		ok = err == nil
		return nil
	})
	return ok
}

// waitConnect polls until the connection's state is want, and returns how
// long that took; it fails the test after limit.
func (l *lab) waitConnect(host netip.Addr, port int, want bool, limit time.Duration) time.Duration {
	l.t.Helper()
	start := time.Now()
	for l.canConnect(host, port) != want {
		if time.Since(start) > limit {
			l.t.Fatalf("port %d on %s: still %s after %v", port, host, map[bool]string{true: "closed", false: "open"}[want], limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// conf writes a configuration file shared by both ends.
func (l *lab) conf(name, body string) string {
	path := filepath.Join(l.dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		l.t.Fatal(err)
	}
	return path
}

// daemon runs knockdaemon in the host namespace until the test ends, and
// waits until its source is ready.
type daemonProc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func (l *lab) daemon(conf string, ready func() bool, args ...string) *daemonProc {
	l.t.Helper()
	d := &daemonProc{out: &syncBuffer{}}
	d.cmd = l.pair.Host.Command(filepath.Join(bin, "knockdaemon"), append([]string{"-conf", conf, "-debug"}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		d.cmd.Process.Kill()
		d.cmd.Wait()
		if l.t.Failed() {
			l.t.Logf("knockdaemon's log:\n%s", d.out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(d.out.String(), "knockdaemon started") || (ready != nil && !ready()) {
		if time.Now().After(deadline) {
			l.t.Fatalf("knockdaemon did not start:\n%s", d.out.String())
		}
		if d.cmd.ProcessState != nil {
			l.t.Fatalf("knockdaemon exited:\n%s", d.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d
}

// nflogReady: the daemon's NFLOG rule is in place.
func (l *lab) nflogReady() bool {
	_, err := l.pair.Host.Run("nft", "list", "table", "inet", "portknock_log_7")
	return err == nil
}

// refused checks, a second after a knock, that port 22 stayed closed and
// that the daemon logged why: reason=<reason>.
func (l *lab) refused(d *daemonProc, reason, what string) {
	l.t.Helper()
	time.Sleep(time.Second)
	if l.canConnect(l.pair.HostV4, 22) {
		l.t.Fatalf("%s opened the port", what)
	}
	if !strings.Contains(d.out.String(), "reason="+reason) {
		l.t.Fatalf("%s: no reason=%s rejection in the daemon's log:\n%s", what, reason, d.out.String())
	}
}

// knock runs knockclient in the client namespace.
func (l *lab) knock(conf string, args ...string) string {
	l.t.Helper()
	cmd := l.pair.Client.Command(filepath.Join(bin, "knockclient"), append([]string{"-conf", conf}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("knockclient %v: %v\n%s", args, err, out)
	}
	return string(out)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
