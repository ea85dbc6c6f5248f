package e2e

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/client"
)

// sealedConf is the recommended configuration: the authenticated knock,
// with a key file both ends read.
func (l *lab) sealedConf(remote, from string) string {
	key := l.dir + "/knock.key"
	l.knockIn(l.pair.Host, "-keygen", "-keyfile", key)
	return l.conf("sealed.conf", `
mode         = sealed
keyfile      = `+key+`
portspan     = 40000-40255
remote       = `+remote+`
client       = `+from+`
port         = 22
duration     = 3s
timeout      = 0.02
protected    = tcp/22
runmode      = network
capture      = nflog
replayfile   = `+l.dir+`/state/replay
`)
}

func (l *lab) knockIn(ns interface {
	Run(args ...string) (string, error)
}, args ...string) string {
	l.t.Helper()
	out, err := ns.Run(append([]string{bin + "/knockclient"}, args...)...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// send knocks on ports from the client namespace, one SYN each.
func (l *lab) send(remote netip.Addr, ports []uint16) {
	l.t.Helper()
	err := l.pair.Client.Do(func() error {
		s, err := client.System{}.Sender(remote)
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
		l.t.Fatal(err)
	}
}

func parsePorts(t *testing.T, line string) []uint16 {
	var out []uint16
	for _, f := range strings.Fields(line) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("knockclient -test printed %q", line)
		}
		out = append(out, uint16(n))
	}
	return out
}

// A spoofed packet injected in the middle of a sealed knock does not
// break it; the same knock replayed, or altered, never opens.
func TestSealedInjectedReplayedForged(t *testing.T) {
	l := newLab(t)
	conf := l.sealedConf("10.77.0.1", "10.77.0.2")
	d := l.daemon(conf, l.nflogReady)
	host := l.pair.HostV4
	ports := parsePorts(t, l.knock(conf, "-test"))

	// The host never answers a knock: a SYN to the span gets no RST.
	var err error
	l.pair.Client.Do(func() error {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", "10.77.0.1:40001", 300*time.Millisecond); err == nil {
			c.Close()
		}
		return nil
	})
	if err == nil || errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("a SYN to the knock span was answered: %v", err)
	}

	injected := append(append(append([]uint16{}, ports[:5]...), 40123), ports[5:]...)
	l.send(host, injected)
	t.Logf("with a foreign knock injected mid-sequence: opened %v after it", l.waitConnect(host, 22, true, 3*time.Second))
	l.waitConnect(host, 22, false, grant+5*time.Second)

	l.send(host, ports) // replayed
	forged := append([]uint16{}, ports...)
	forged[len(forged)/2] ^= 1
	l.send(host, forged) // one port altered
	time.Sleep(time.Second)
	if l.canConnect(host, 22) {
		t.Fatal("a replayed or forged sealed knock opened the port")
	}
	log := d.out.String()
	for _, want := range []string{"reason=replay", "knock accepted"} {
		if !strings.Contains(log, want) {
			t.Errorf("daemon log lacks %q", want)
		}
	}
}

// Single packet authorization over IPv6: one UDP datagram opens the port.
func TestSealedSPAOverIPv6(t *testing.T) {
	l := newLab(t)
	conf := l.sealedConf("fd77::1", "fd77::2")
	l.daemon(conf, l.nflogReady)
	host := l.pair.HostV6
	if l.canConnect(host, 22) {
		t.Fatal("port 22 open over IPv6 before the knock")
	}
	l.knock(conf, "-spa")
	t.Logf("SPA over IPv6: opened %v after the datagram", l.waitConnect(host, 22, true, 3*time.Second))
	if l.canConnect(l.pair.HostV4, 22) {
		t.Fatal("the IPv6 grant opened the port to IPv4 too")
	}
	l.waitConnect(host, 22, false, grant+5*time.Second)
}
