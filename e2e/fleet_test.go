package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/client"
	"github.com/portknock/knock/internal/netns"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/source/nflog"
)

// fleetLab is a client, three gates and a Redis on one bridge.
type fleetLab struct {
	t      *testing.T
	lan    *netns.LAN
	dir    string
	client *netns.Host
	gates  []*netns.Host
	redis  *netns.Host
	rcmd   *exec.Cmd
}

func newFleetLab(t *testing.T) *fleetLab {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	testenv.NeedCommand(t, "nft", "apt-get install nftables")
	testenv.NeedCommand(t, "redis-server", "apt-get install redis-server")
	lan, err := netns.NewLAN("client", "gate-a", "gate-b", "gate-c", "redis")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lan.Delete)
	f := &fleetLab{t: t, lan: lan, dir: t.TempDir(), client: lan.Hosts[0], gates: lan.Hosts[1:4], redis: lan.Hosts[4]}
	for _, g := range f.gates {
		f.serve(g)
	}
	return f
}

// serve runs a TCP echo service on port 22 of a gate.
func (f *fleetLab) serve(g *netns.Host) { serveEcho(f.t, g, 22) }

// startRedis runs redis-server in its namespace, with no persistence, and
// waits until a gate reaches it.
func (f *fleetLab) startRedis() {
	f.t.Helper()
	f.rcmd = f.redis.Command("redis-server", "--port", "6379", "--bind", f.redis.Addr.String(),
		"--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", f.dir)
	if err := f.rcmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	cmd := f.rcmd
	f.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	f.waitFor("redis-server to listen", 10*time.Second, func() bool {
		return f.dial(f.gates[0], netip.AddrPortFrom(f.redis.Addr, 6379), false)
	})
}

func (f *fleetLab) stopRedis() {
	f.rcmd.Process.Kill()
	f.rcmd.Wait()
}

// gateConf writes gate's configuration: a sealed knock, nftables, NFLOG
// capture, its claims and grants shared through the fleet's Redis.
func (f *fleetLab) gateConf(g *netns.Host, key, fleetKey string) string {
	dir := filepath.Join(f.dir, g.Role)
	return f.write(g.Role+".conf", fmt.Sprintf(`
mode         = sealed
keyfile      = %s
portspan     = 40000-40255
protected    = tcp/22
duration     = 4s
runmode      = network
capture      = nflog
firewall     = nft
replayfile   = %s/replay
controlsocket = %s/control.sock
metrics      = 127.0.0.1:9477
fleet        = redis://%s:6379/0
fleetgate    = %s
fleetkey     = %s
fleetfailure = refuse
`, key, dir, dir, f.redis.Addr, g.Role, fleetKey))
}

func (f *fleetLab) write(name, body string) string {
	path := filepath.Join(f.dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// daemon runs knockdaemon in gate's namespace until the test ends.
func (f *fleetLab) daemon(g *netns.Host, conf string) *daemonProc {
	f.t.Helper()
	d := &daemonProc{out: &syncBuffer{}}
	d.cmd = g.Command(filepath.Join(bin, "knockdaemon"), "-conf", conf, "-debug")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		d.cmd.Process.Kill()
		d.cmd.Wait()
		if f.t.Failed() {
			f.t.Logf("knockdaemon's log on %s:\n%s", g.Role, d.out.String())
		}
	})
	f.waitFor("knockdaemon on "+g.Role+" to start", 15*time.Second, func() bool {
		if d.cmd.ProcessState != nil {
			f.t.Fatalf("knockdaemon on %s exited:\n%s", g.Role, d.out.String())
		}
		_, err := g.Run("nft", "list", "table", "inet", nflog.TableName(7))
		return err == nil && strings.Contains(d.out.String(), "knockdaemon started")
	})
	return d
}

// dial reports whether a TCP connection from the namespace of from to
// addr is accepted; with echo, whether it also echoes a byte.
func (f *fleetLab) dial(from *netns.Host, addr netip.AddrPort, echo bool) bool {
	ok := false
	from.Do(func() error {
		c, err := net.DialTimeout("tcp", addr.String(), 300*time.Millisecond)
		if err != nil {
			return nil
		}
		defer c.Close()
		if !echo {
			ok = true
			return nil
		}
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			return nil
		}
		_, err = io.ReadFull(c, make([]byte, 1))
		ok = err == nil
		return nil
	})
	return ok
}

// open reports whether the client reaches the service on gate.
func (f *fleetLab) open(g *netns.Host) bool {
	return f.dial(f.client, netip.AddrPortFrom(g.Addr, 22), true)
}

func (f *fleetLab) waitOpen(g *netns.Host, want bool, limit time.Duration) {
	f.t.Helper()
	f.waitFor(fmt.Sprintf("tcp/22 on %s to be %s", g.Role, map[bool]string{true: "open", false: "closed"}[want]), limit,
		func() bool { return f.open(g) == want })
}

func (f *fleetLab) waitFor(what string, limit time.Duration, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("gave up waiting %v for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send knocks on ports of gate from the client, one SYN each.
func (f *fleetLab) send(g *netns.Host, ports []uint16) {
	f.t.Helper()
	err := f.client.Do(func() error {
		s, err := client.System{}.Sender(g.Addr)
		if err != nil {
			return err
		}
		defer s.Close()
		for _, p := range ports {
			if err := s.Send(client.Packet{Proto: knock.TCP, Port: p}); err != nil {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

// knockclient runs knockclient in the client namespace.
func (f *fleetLab) knockclient(args ...string) string {
	f.t.Helper()
	out, err := f.client.Run(append([]string{filepath.Join(bin, "knockclient")}, args...)...)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// rejected is gate's knockdaemon_knocks_rejected_total for reason, read
// from its metrics endpoint inside the gate's namespace.
func (f *fleetLab) rejected(g *netns.Host, reason string) int {
	f.t.Helper()
	var body []byte
	err := g.Do(func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:9477", time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprint(c, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
		body, err = io.ReadAll(c)
		return err
	})
	if err != nil {
		f.t.Fatalf("metrics of %s: %v", g.Role, err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "knockdaemon_knocks_rejected_total{") || !strings.Contains(line, `reason="`+reason+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			f.t.Fatalf("metrics of %s: %q", g.Role, line)
		}
		n += int(v)
	}
	return n
}

// Three gates share one Redis: one knock at gate a opens b and c too, the
// captured knock replayed to b is refused there, and while Redis is down a
// gate that must refuse refuses, until Redis is back.
func TestFleetThreeGates(t *testing.T) {
	f := newFleetLab(t)
	a, b := f.gates[0], f.gates[1]
	key := filepath.Join(f.dir, "knock.key")
	f.knockclient("-keygen", "-keyfile", key)
	fleetKey := f.write("fleet.key", strings.Repeat("3c", 32)+"\n")
	clientConf := f.write("client.conf", fmt.Sprintf(`
mode     = sealed
keyfile  = %s
portspan = 40000-40255
remote   = %s
client   = %s
port     = 22
duration = 4s
timeout  = 0.02
`, key, a.Addr, f.client.Addr))
	f.startRedis()
	d := map[*netns.Host]*daemonProc{}
	for _, g := range f.gates {
		d[g] = f.daemon(g, f.gateConf(g, key, fleetKey))
		f.waitFor("the fleet on "+g.Role, 10*time.Second, func() bool {
			return strings.Contains(d[g].out.String(), "claims and grants shared through Redis")
		})
	}
	for _, g := range f.gates {
		if f.open(g) {
			t.Fatalf("tcp/22 on %s open before any knock", g.Role)
		}
	}

	// One knock at gate a opens all three.
	captured := parsePorts(t, f.knockclient("-conf", clientConf, "-test"))
	f.send(a, captured)
	for _, g := range f.gates {
		f.waitOpen(g, true, 5*time.Second)
	}
	// The same knock, captured and replayed to gate b, is refused there.
	f.send(b, captured)
	f.waitFor("gate-b to refuse the replayed knock", 5*time.Second, func() bool { return f.rejected(b, "replay") == 1 })
	if strings.Contains(d[b].out.String(), "knock accepted") {
		t.Fatalf("gate-b accepted the replayed knock:\n%s", d[b].out.String())
	}
	for _, g := range f.gates {
		f.waitOpen(g, false, 10*time.Second)
	}

	// Redis goes away: gate a, refusing, opens nothing for a fresh knock.
	f.stopRedis()
	f.knockclient("-conf", clientConf)
	f.waitFor("gate-a to refuse a knock it cannot record", 5*time.Second, func() bool { return f.rejected(a, "replay") == 1 })
	if !strings.Contains(d[a].out.String(), "the replay cache cannot record it") {
		t.Fatalf("gate-a's log does not say why it refused:\n%s", d[a].out.String())
	}
	if f.open(a) {
		t.Fatal("gate-a opened without Redis")
	}

	// Redis is back, empty: the gates find it, and a fresh knock opens again.
	f.startRedis()
	for _, g := range f.gates {
		f.waitFor(g.Role+" to find Redis again", 10*time.Second, func() bool {
			return strings.Contains(d[g].out.String(), "redis reachable again")
		})
	}
	f.knockclient("-conf", clientConf)
	for _, g := range f.gates {
		f.waitOpen(g, true, 5*time.Second)
	}
}
