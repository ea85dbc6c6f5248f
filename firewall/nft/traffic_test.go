package nft_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/nft"
	"github.com/portknock/knock/internal/netnstest"
)

// dialTimeout is how long a dial waits before calling a port closed: the
// guard drops, so a closed port answers nothing.
const dialTimeout = 700 * time.Millisecond

// lab is a host running an echo service on tcp/22 and udp/22, and a
// client with a second address on each family.
type lab struct {
	*netnstest.Pair
	Other4, Other6 netip.Addr // the client's second addresses, never granted
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{Pair: netnstest.NewPair(t), Other4: netip.MustParseAddr("10.77.0.3"), Other6: netip.MustParseAddr("fd77::3")}
	l.Client.MustRun("ip", "addr", "add", "10.77.0.3/24", "dev", "eth0")
	l.Client.MustRun("ip", "addr", "add", "fd77::3/64", "dev", "eth0", "nodad")
	var ln net.Listener
	var pc net.PacketConn
	if err := l.Host.Do(func() (err error) {
		if ln, err = net.Listen("tcp", "[::]:22"); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp", "[::]:22")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go serveTCP(ln)
	go serveUDP(pc)
	return l
}

func serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { io.Copy(c, c); c.Close() }()
	}
}

func serveUDP(pc net.PacketConn) {
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(buf[:n], from)
	}
}

// dial connects from the client's address from to the host's address to
// on tcp/22.
func (l *lab) dial(from, to netip.Addr) (net.Conn, error) {
	var c net.Conn
	err := l.Client.Do(func() (err error) {
		d := net.Dialer{Timeout: dialTimeout, LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
		c, err = d.Dial("tcp", netip.AddrPortFrom(to, 22).String())
		return err
	})
	return c, err
}

// reaches reports whether a new TCP connection from from gets an echo.
func (l *lab) reaches(from, to netip.Addr) bool {
	c, err := l.dial(from, to)
	if err != nil {
		return false
	}
	defer c.Close()
	return echoes(c) == nil
}

// reachesUDP reports whether a datagram from a fresh socket gets an echo.
func (l *lab) reachesUDP(from, to netip.Addr) bool {
	var c net.Conn
	if err := l.Client.Do(func() (err error) {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: from.AsSlice()}}
		c, err = d.Dial("udp", netip.AddrPortFrom(to, 22).String())
		return err
	}); err != nil {
		return false
	}
	defer c.Close()
	return echoes(c) == nil
}

// echoes sends a line on c and expects it back.
func echoes(c net.Conn) error {
	c.SetDeadline(time.Now().Add(dialTimeout))
	if _, err := c.Write([]byte("knock knock\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "knock knock\n" {
		err = errors.New("echo garbled: " + line)
	}
	return err
}

// family is one address family of the lab.
type family struct {
	name                  string
	host, client, another netip.Addr
}

func (l *lab) families() []family {
	return []family{
		{"ipv4", l.HostV4, l.ClientV4, l.Other4},
		{"ipv6", l.HostV6, l.ClientV6, l.Other6},
	}
}

// The whole life of a grant, over real TCP: closed before, open after the
// knock for that address only, closed again after the duration, while a
// connection made in time outlives the grant.
func TestTrafficOwnTable(t *testing.T) {
	needKernel(t)
	t.Parallel()
	l := newLab(t)
	b := setUp(t, l.Host, nft.Config{Protected: ssh})
	for _, f := range l.families() {
		t.Run(f.name, func(t *testing.T) { t.Parallel(); grantLife(t, l, b, f) })
	}
}

func grantLife(t *testing.T, l *lab, b *nft.Backend, f family) {
	if l.reaches(f.client, f.host) {
		t.Fatal("port 22 reachable before any knock")
	}
	g := firewall.Grant{Addr: f.client, Proto: knock.TCP, Port: 22, Duration: 3 * time.Second}
	if err := b.Open(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	kept, err := l.dial(f.client, f.host)
	if err != nil {
		t.Fatalf("granted client cannot connect: %v", err)
	}
	defer kept.Close()
	if l.reaches(f.another, f.host) {
		t.Errorf("the client's other address %s got in on %s's grant", f.another, f.client)
	}
	key := describe(g)
	eventually(t, "grant expired", 10*time.Second, func() bool { _, open := grants(t, b)[key]; return !open })
	if l.reaches(f.client, f.host) {
		t.Error("new connection accepted after the grant expired")
	}
	if err := echoes(kept); err != nil {
		t.Errorf("connection made during the grant died with it: %v", err)
	}
}

// UDP grants open a UDP port, for the granted address only, and not the
// TCP port of the same number.
func TestTrafficUDP(t *testing.T) {
	needKernel(t)
	t.Parallel()
	l := newLab(t)
	b := setUp(t, l.Host, nft.Config{Protected: append([]knock.Port{{Proto: knock.UDP, Port: 22}}, ssh...)})
	for _, f := range l.families() {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			if l.reachesUDP(f.client, f.host) {
				t.Fatal("udp/22 answered before any knock")
			}
			g := firewall.Grant{Addr: f.client, Proto: knock.UDP, Port: 22, Duration: time.Hour}
			if err := b.Open(context.Background(), g); err != nil {
				t.Fatal(err)
			}
			if !l.reachesUDP(f.client, f.host) {
				t.Error("granted client gets no answer")
			}
			if l.reachesUDP(f.another, f.host) {
				t.Error("the client's other address got an answer")
			}
			if l.reaches(f.client, f.host) {
				t.Error("a udp grant opened tcp/22")
			}
		})
	}
}

// On a host whose ruleset drops by default, the own table's accept does
// not help: the other table's drop still applies. Two ways work: the host
// accepts the protected port and the own table guards it, or the host's
// table references the daemon's sets (existing-table mode).
func TestDefaultDropHost(t *testing.T) {
	needKernel(t)
	t.Parallel()
	t.Run("own-table alone stays closed", func(t *testing.T) {
		t.Parallel()
		l := newLab(t)
		load(t, l.Host, readFile(t, "default-drop.nft"))
		b := setUp(t, l.Host, nft.Config{Protected: ssh})
		g := firewall.Grant{Addr: l.ClientV4, Proto: knock.TCP, Port: 22, Duration: time.Hour}
		if err := b.Open(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		if l.reaches(l.ClientV4, l.HostV4) {
			t.Fatal("granted client got through a default-drop host's ruleset with the own table alone")
		}
		t.Log("as documented: the grant is in table inet portknock, and table inet filter's policy drop still refuses it")
	})
	t.Run("own-table guards a port the host accepts", func(t *testing.T) {
		t.Parallel()
		l := newLab(t)
		load(t, l.Host, readFile(t, "default-drop.nft"))
		load(t, l.Host, "add rule inet filter input tcp dport 22 accept")
		b := setUp(t, l.Host, nft.Config{Protected: ssh})
		for _, f := range l.families() {
			t.Run(f.name, func(t *testing.T) { t.Parallel(); grantLife(t, l, b, f) })
		}
	})
	t.Run("existing-table opens", func(t *testing.T) {
		t.Parallel()
		l := newLab(t)
		load(t, l.Host, readFile(t, "admin-filter.nft"))
		b := setUp(t, l.Host, nft.Config{Mode: nft.ExistingTable, Table: "filter", Protected: ssh})
		for _, f := range l.families() {
			t.Run(f.name, func(t *testing.T) { t.Parallel(); grantLife(t, l, b, f) })
		}
	})
}
