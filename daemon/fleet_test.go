package daemon_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/firewall/firewalltest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/logline"
)

// startRedis runs a redis-server of its own on a free loopback port, with
// no persistence, until the test ends.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis-server", err, "apt-get install redis-server")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "redis-server to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// gate is one knockdaemon of a fleet, following its own log file, with a
// fake firewall so that three run in one test.
type gate struct {
	log string
	fw  *firewalltest.Backend
	d   *daemon.Daemon
}

// Three gates share one Redis: a knock accepted by gate a opens the port
// on b and c too, and the same knock replayed to b is refused there.
func TestFleetOneKnockEveryGate(t *testing.T) {
	redis := startRedis(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "fleet.key")
	os.WriteFile(key, []byte(strings.Repeat("5a", 32)+"\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	var gates []*gate
	var done []chan error
	defer func() {
		cancel()
		for _, c := range done {
			<-c
		}
	}()
	for _, name := range []string{"a", "b", "c"} {
		g := &gate{log: filepath.Join(dir, name+".log"), fw: firewalltest.New(time.Now)}
		os.WriteFile(g.log, nil, 0o600)
		set := loadConf(t, fmt.Sprintf(`
knock      = CLIENT,PORT,FLAG0,CHECKSUM
key        = knock
iv         = yes
portspan   = 745-1000
runmode    = file
logfile    = %s
replayfile = %s
fleet      = redis://%s/0
fleetgate  = %s
fleetkey   = %s
`, g.log, filepath.Join(dir, name, "replay"), redis, name, key))
		d, err := daemon.New(set, daemon.Options{Stderr: testWriter{t}, Firewall: g.fw})
		if err != nil {
			t.Fatal(err)
		}
		g.d = d
		c := make(chan error, 1)
		go func() { c <- d.Run(ctx) }()
		gates, done = append(gates, g), append(done, c)
	}
	time.Sleep(300 * time.Millisecond) // let the followers reach the end of their logs

	codec, _ := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000", IV: true})
	ports, _ := codec.Encode(legacy.Values{Client: netip.MustParseAddr("192.0.2.7"), Port: 22, Flags: map[int]int{0: 10}})
	knockAt := func(g *gate) {
		f, _ := os.OpenFile(g.log, os.O_APPEND|os.O_WRONLY, 0)
		for i, p := range ports {
			fmt.Fprintln(f, logline.Render(logline.DefaultTemplate, logline.Fields{Date: time.Now(), Client: netip.MustParseAddr("192.0.2.7"), Remote: netip.MustParseAddr("192.0.2.1"), ClientPort: uint16(40000 + i), RemotePort: p}))
		}
		f.Close()
	}
	open := func(g *gate) bool { return slices.Contains(g.fw.Active(), "192.0.2.7 tcp/22") }

	knockAt(gates[0])
	for i, g := range gates {
		waitFor(t, fmt.Sprintf("gate %c to open tcp/22", 'a'+i), func() bool { return open(g) })
	}
	knockAt(gates[1]) // the same knock, replayed to another gate
	waitFor(t, "gate b to refuse the replay", func() bool { return gates[1].d.Metrics().Rejected("replay") == 1 })
	if n := gates[1].d.Metrics().Accepted(); n != 0 {
		t.Fatalf("gate b accepted %d knocks: the replay opened it", n)
	}
}
