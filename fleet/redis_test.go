package fleet

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/redis/go-redis/v9"
)

const installRedis = "apt-get install redis-server redis-sentinel"

// server is a redis-server (or redis-sentinel) the test started on
// loopback, killed when the test ends.
type server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	host string
	conf string
	// ns, when set, is the network namespace the server runs in.
	ns *netnstest.NS

	mu  sync.Mutex
	cmd *exec.Cmd
}

// freePort asks the kernel for a free loopback port.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis starts redis-server with the config lines given, plus its
// port, directory and durable append-only file, and waits until it answers.
func startRedis(tb testing.TB, bind string, conf ...string) *server {
	tb.Helper()
	return startRedisIn(tb, nil, bind, freePort(tb), conf...)
}

// startRedisIn starts redis-server in namespace ns (nil: this one).
func startRedisIn(tb testing.TB, ns *netnstest.NS, bind string, port int, conf ...string) *server {
	tb.Helper()
	bin := testenv.NeedCommand(tb, "redis-server", installRedis)
	s := &server{tb: tb, bin: bin, dir: tb.TempDir(), port: port, host: bind, ns: ns}
	lines := append([]string{
		"bind " + bind, "port " + strconv.Itoa(s.port), "dir " + s.dir,
		"daemonize no", "save \"\"", "appendonly yes", "appendfsync always", "repl-diskless-sync-delay 0",
		"logfile " + filepath.Join(s.dir, "log"), "protected-mode no",
	}, conf...)
	s.conf = filepath.Join(s.dir, "redis.conf")
	if err := os.WriteFile(s.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	s.start()
	tb.Cleanup(s.kill)
	return s
}

func (s *server) addr() string {
	host := s.host
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(s.port))
}

// dial connects from the server's own namespace.
func (s *server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.ns == nil {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return dialIn(s.ns, ctx, network, addr)
}

// dialIn connects from namespace ns.
func dialIn(ns *netnstest.NS, ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

func (s *server) start() {
	s.tb.Helper()
	s.mu.Lock()
	if s.ns != nil {
		s.cmd = s.ns.Command(s.bin, s.conf)
	} else {
		s.cmd = exec.Command(s.bin, s.conf)
	}
	err := s.cmd.Start()
	s.mu.Unlock()
	if err != nil {
		s.tb.Fatal(err)
	}
	waitFor(s.tb, 10*time.Second, s.bin+" answers on "+s.addr(), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := s.dial(ctx, "tcp", s.addr())
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "PING\r\n")
		b := make([]byte, 64)
		n, _ := c.Read(b)
		// +PONG, or -NOAUTH when a password is needed: it is up.
		return n > 0
	})
}

// kill stops the server with SIGKILL and waits for it; safe to repeat.
func (s *server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

func (s *server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	return string(b)
}

// admin is a client with the server's admin credentials.
func (s *server) admin(user, pass string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.addr(), Username: user, Password: pass, MaxRetries: -1, Dialer: s.dial})
	s.tb.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 100*time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for: %s", d, what)
		}
		time.Sleep(wait)
	}
}

// fakeFirewall records what a gate opens and closes.
type fakeFirewall struct {
	mu     sync.Mutex
	open   map[string]time.Duration // "10.0.0.1 tcp/22" → duration asked
	closed []string
}

func newFakeFirewall() *fakeFirewall { return &fakeFirewall{open: map[string]time.Duration{}} }

func fwKey(addr string, proto knock.Proto, port uint16) string {
	return fmt.Sprintf("%s %s/%d", addr, proto, port)
}

func (f *fakeFirewall) has(k string) (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.open[k]
	return d, ok
}

func (f *fakeFirewall) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.open)
}

func ctxT(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func (f *fakeFirewall) Open(_ context.Context, g firewall.Grant) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.open[fwKey(g.Addr.String(), g.Proto, g.Port)] = g.Duration
	return nil
}

func (f *fakeFirewall) Close(_ context.Context, g firewall.Grant) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fwKey(g.Addr.String(), g.Proto, g.Port)
	delete(f.open, k)
	f.closed = append(f.closed, k)
	return nil
}

type (
	redisXAdd = redis.XAddArgs
	redisZ    = redis.Z
)

// quiet drops go-redis's own log lines (dial failures while a test has
// killed Redis on purpose); the gates' logs say what matters.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func init() { redis.SetLogger(quiet{}) }
