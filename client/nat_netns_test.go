//go:build linux

package client_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/client"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
)

// natLab is three namespaces in a row: a client on a private network, a
// NAT that masquerades it (nftables), and a server with a STUN responder
// and a UDP port that receives the knock.
type natLab struct {
	client, nat, server *netnstest.NS
	private, public     netip.Addr // the client's address, the NAT's on the server side
	serverAddr          netip.Addr
	knocks              *net.UDPConn // in server: the SPA port
}

func newNATLab(t *testing.T) *natLab {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	testenv.NeedCommand(t, "nft", "apt-get install nftables")
	l := &natLab{
		client: netnstest.New(t, "natc"), nat: netnstest.New(t, "nat"), server: netnstest.New(t, "nats"),
		private: netip.MustParseAddr("10.66.1.2"), public: netip.MustParseAddr("10.66.2.1"),
		serverAddr: netip.MustParseAddr("10.66.2.2"),
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "-n", l.client.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "inside", "netns", l.nat.Name)
	run("ip", "-n", l.server.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "outside", "netns", l.nat.Name)
	l.client.MustRun("ip", "addr", "add", l.private.String()+"/24", "dev", "eth0")
	l.client.MustRun("ip", "link", "set", "eth0", "up")
	l.client.MustRun("ip", "route", "add", "default", "via", "10.66.1.1")
	l.nat.MustRun("ip", "addr", "add", "10.66.1.1/24", "dev", "inside")
	l.nat.MustRun("ip", "addr", "add", l.public.String()+"/24", "dev", "outside")
	l.nat.MustRun("ip", "link", "set", "inside", "up")
	l.nat.MustRun("ip", "link", "set", "outside", "up")
	l.nat.MustRun("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	l.nat.MustRun("nft", "add table ip nat; add chain ip nat post { type nat hook postrouting priority srcnat; }; add rule ip nat post oifname outside masquerade")
	// The server has no route to the private network: only the NAT's
	// address reaches it, and answers go back through the NAT.
	l.server.MustRun("ip", "addr", "add", l.serverAddr.String()+"/24", "dev", "eth0")
	l.server.MustRun("ip", "link", "set", "eth0", "up")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := l.client.Run("ping", "-c1", "-W1", l.serverAddr.String()); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the client never reached the server through the NAT: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := l.server.Do(func() error {
		stunConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: l.serverAddr.AsSlice(), Port: 3478})
		if err != nil {
			return err
		}
		stunServer(t, stunConn, nil)
		l.knocks, err = net.ListenUDP("udp", &net.UDPAddr{IP: l.serverAddr.AsSlice(), Port: 62201})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.knocks.Close() })
	return l
}

// knock runs knockclient in the client namespace and returns the sealed
// message the server received, with the address it came from.
func (l *natLab) knock(t *testing.T, args ...string) ([]byte, netip.Addr, string) {
	t.Helper()
	s, err := settings.Load(settings.Client, append([]string{"-conf", "testdata/sealed.conf", "-remote", l.serverAddr.String(), "-spa", "-debug"}, args...), nil)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	c := client.New(s, client.Env{Stdout: &stdout, Stderr: &stderr})
	if err := l.client.Do(func() error { return c.Run(context.Background()) }); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	buf := make([]byte, 1500)
	l.knocks.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := l.knocks.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no knock arrived: %v\nclient said: %s%s", err, stdout.String(), stderr.String())
	}
	b, err := sealed.ParseSPA(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return b, from.Addr().Unmap(), stderr.String()
}

// TestSTUNBehindNAT: behind a masquerading NAT, the client's own address
// is not what the daemon sees. With stun, the client learns the NAT's
// public address from a STUN server and the knock carries it, so it
// opens for the address the knock arrives from; with client = source as
// well, the knock carries no address and is sealed for the public one.
func TestSTUNBehindNAT(t *testing.T) {
	l := newNATLab(t)
	key := sealedKey(t)
	stunAt := l.serverAddr.String() + ":3478"

	// Without stun: the knock names the private address, which the
	// daemon's checkclient refuses (it arrives from the NAT's).
	b, from, _ := l.knock(t, "-client", "")
	if from != l.public {
		t.Fatalf("the knock arrived from %s, not from the NAT's %s: no NAT in between", from, l.public)
	}
	if m, err := sealed.OpenFrom(key, b, from, time.Now(), time.Minute); err != nil || m.Client != l.private {
		t.Fatalf("without stun: %+v, %v", m, err)
	}

	// With stun: the knock names the NAT's address.
	b, from, said := l.knock(t, "-client", "", "-stun", stunAt)
	if !strings.Contains(said, "debug: client: "+l.public.String()+", this host's address as the STUN server "+stunAt+" sees it") {
		t.Errorf("the client did not say where its address came from:\n%s", said)
	}
	m, err := sealed.OpenFrom(key, b, from, time.Now(), time.Minute)
	if err != nil || m.Client != l.public || m.Implicit || from != l.public {
		t.Fatalf("with stun: %+v from %s, %v", m, from, err)
	}

	// client = source with stun: no address in the bytes, sealed for the
	// NAT's: it opens from there, and from nowhere else.
	b, from, _ = l.knock(t, "-client", "source", "-stun", stunAt)
	if len(b) != sealed.SizeImplicit && len(b) != sealed.SizeV2Implicit {
		t.Fatalf("client = source sent %d bytes, an implicit message has %d", len(b), sealed.SizeImplicit)
	}
	if m, err := sealed.OpenFrom(key, b, from, time.Now(), time.Minute); err != nil || !m.Implicit || m.Client != l.public {
		t.Fatalf("implicit with stun: %+v from %s, %v", m, from, err)
	}
	if _, err := sealed.OpenFrom(key, b, l.private, time.Now(), time.Minute); err == nil {
		t.Fatal("an implicit knock sealed for the NAT's address opened as from the private one")
	}

	// client = source without stun is sealed for the private address:
	// behind NAT it fails authentication, as the manual says.
	b, from, _ = l.knock(t, "-client", "source")
	if _, err := sealed.OpenFrom(key, b, from, time.Now(), time.Minute); err == nil {
		t.Fatal("an implicit knock sealed for the private address opened from the NAT's")
	}
}
