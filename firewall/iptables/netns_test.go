package iptables

import (
	"bufio"
	"context"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// env is a host namespace with a listener on port 22 and a client
// namespace with two addresses per family: the first is granted in the
// tests, the second never is.
type env struct {
	*netnstest.Pair
	other4, other6 netip.Addr
}

func newEnv(t testing.TB) *env {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	testenv.NeedCommand(t, "iptables", "apt-get install iptables")
	testenv.NeedCommand(t, "ip6tables", "apt-get install iptables")
	e := &env{Pair: netnstest.NewPair(t),
		other4: netip.MustParseAddr("10.77.0.3"), other6: netip.MustParseAddr("fd77::3")}
	e.Client.MustRun("ip", "addr", "add", "10.77.0.3/24", "dev", "eth0")
	e.Client.MustRun("ip", "addr", "add", "fd77::3/64", "dev", "eth0", "nodad")
	var ln net.Listener
	if err := e.Host.Do(func() (err error) {
		ln, err = net.Listen("tcp", "[::]:22")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go echo(ln)
	return e
}

// echo answers every line on every connection with the same line.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				c.Write([]byte(line))
			}
		}()
	}
}

// backend returns a Backend working in the host namespace, protecting
// tcp/22 unless ports are given.
func (e *env) backend(t testing.TB, now func() time.Time, ports ...knock.Port) *Backend {
	t.Helper()
	if len(ports) == 0 {
		ports = []knock.Port{{Proto: knock.TCP, Port: 22}}
	}
	return e.backendWith(t, Config{Protected: ports, Now: now})
}

// backendWith returns a Backend of cfg working in the host namespace.
func (e *env) backendWith(t testing.TB, cfg Config) *Backend {
	t.Helper()
	cfg.Wrapper = []string{"ip", "netns", "exec", e.Host.Name}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dial connects from the client address from to the host's port 22. A
// dropped SYN shows as a timeout.
func (e *env) dial(from, to netip.Addr) (net.Conn, error) {
	var c net.Conn
	var err error
	e.Client.Do(func() error {
		d := net.Dialer{Timeout: 400 * time.Millisecond, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
		c, err = d.Dial("tcp", netip.AddrPortFrom(to, 22).String())
		return nil
	})
	return c, err
}

func (e *env) reachable(t *testing.T, from, to netip.Addr) bool {
	t.Helper()
	c, err := e.dial(from, to)
	if err != nil {
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("dial %s from %s: %v, want success or a timeout (dropped)", to, from, err)
		}
		return false
	}
	c.Close()
	return true
}

// talk checks that a connection still carries data both ways.
func talk(c net.Conn) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := bufio.NewReader(c).ReadString('\n')
	return err
}

// family is one address family of the environment.
type fam struct {
	name                string
	host, client, other netip.Addr
	binary              string
}

func (e *env) families() []fam {
	return []fam{
		{"v4", e.HostV4, e.ClientV4, e.other4, "iptables"},
		{"v6", e.HostV6, e.ClientV6, e.other6, "ip6tables"},
	}
}

func mustSetup(t testing.TB, b *Backend) {
	t.Helper()
	if err := b.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func grant(a netip.Addr, d time.Duration) firewall.Grant {
	return firewall.Grant{Addr: a, Proto: knock.TCP, Port: 22, Duration: d}
}

// ruleset returns "iptables -S" of the host namespace for a binary.
func (e *env) ruleset(t *testing.T, binary string) string {
	t.Helper()
	return e.Host.MustRun(binary, "-S")
}

// golden compares text with testdata/golden/name, or rewrites it with
// -update.
func golden(t *testing.T, name, text string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if text != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", name, text, want)
	}
}

// fixed returns a clock stopped at 2030-01-02T03:00:00Z, far enough ahead
// that grants dated by it are in force by the kernel's real clock.
func fixed() (func() time.Time, *time.Time) {
	now := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	return func() time.Time { return now }, &now
}
