//go:build linux

package client_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/portknock/knock/client"
	"github.com/portknock/knock/client/clienttest"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
)

// wire knocks from the client namespace with the real network and returns
// what the host namespace saw arrive from the client's address.
func wire(t *testing.T, pair *netnstest.Pair, from netip.Addr, want int, args ...string) []clienttest.Captured {
	t.Helper()
	var capt *clienttest.Capture
	if err := pair.Host.Do(func() (err error) { capt, err = clienttest.OpenCapture("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer capt.Close()
	s, err := settings.Load(settings.Client, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	c := client.New(s, client.Env{Stdout: &stdout, Stderr: &stderr})
	// Every socket the client opens, it opens on this goroutine: inside
	// the client namespace.
	if err := pair.Client.Do(func() error { return c.Run(context.Background()) }); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	got := capt.Collect(from, want, 300*time.Millisecond, 5*time.Second)
	if len(got) != want {
		t.Fatalf("captured %d packets, want %d:\n%v\nclient said: %s%s", len(got), want, got, stdout.String(), stderr.String())
	}
	return got
}

func ports(ps []clienttest.Captured) []uint16 {
	var out []uint16
	for _, p := range ps {
		out = append(out, p.DstPort)
	}
	return out
}

// TestOnTheWire: the original configuration's knock leaves as single
// SYNs (no handshake, no retransmission) or empty datagrams, in order,
// over IPv4 and IPv6, from source ports the kernel chose.
func TestOnTheWire(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	pair := netnstest.NewPair(t)
	for _, tc := range []struct {
		name, proto    string
		remote, client netip.Addr
	}{
		{"tcp4", "tcp", pair.HostV4, pair.ClientV4},
		{"tcp6", "tcp", pair.HostV6, pair.ClientV6},
		{"udp4", "udp", pair.HostV4, pair.ClientV4},
		{"udp6", "udp", pair.HostV6, pair.ClientV6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ln *net.TCPListener
			if tc.proto == "tcp" {
				// A listener on a knock port answers with a SYN-ACK: the
				// client must not complete the handshake.
				ln = listen(t, pair, netip.AddrPortFrom(tc.remote, v1[0]))
			}
			got := wire(t, pair, tc.client, len(v1), "-conf", "testdata/knockclient.conf",
				"-remote", tc.remote.String(), "-protocol", tc.proto, "-timeout", "0.01")
			got = knocks(t, got)
			if !slices.Equal(ports(got), v1) {
				t.Fatalf("ports %v, want %v", ports(got), v1)
			}
			srcPorts := map[uint16]bool{}
			for _, p := range got {
				if p.Proto != tc.proto || p.Dst != tc.remote {
					t.Fatalf("%v", p)
				}
				single := p.Flags&clienttest.FlagSYN != 0 && p.Flags&(clienttest.FlagACK|clienttest.FlagRST|clienttest.FlagFIN) == 0
				if tc.proto == "tcp" && !single {
					t.Fatalf("not a bare SYN: %v", p)
				}
				if tc.proto == "udp" && len(p.Payload) != 0 {
					t.Fatalf("a knock datagram carries nothing: %v", p)
				}
				srcPorts[p.SrcPort] = true
			}
			if len(srcPorts) < 2 {
				t.Errorf("every knock from the same source port: %v", got)
			}
			if ln != nil {
				ln.SetDeadline(time.Now())
				if c, err := ln.Accept(); err == nil {
					t.Fatalf("a connection was established from %v", c.RemoteAddr())
				}
			}
		})
	}
}

// knocks drops the resets a client's kernel sends in answer to a SYN-ACK
// for a socket already closed, failing on anything else that is not a
// knock: an ACK would be a handshake.
func knocks(t *testing.T, got []clienttest.Captured) []clienttest.Captured {
	t.Helper()
	var out []clienttest.Captured
	for _, p := range got {
		if p.Proto == "tcp" && p.Flags&clienttest.FlagACK != 0 {
			t.Fatalf("the client acknowledged a SYN-ACK: %v", p)
		}
		if p.Proto == "tcp" && p.Flags == clienttest.FlagRST {
			continue
		}
		out = append(out, p)
	}
	return out
}

// listen opens a TCP listener in the host namespace until the test ends.
func listen(t *testing.T, pair *netnstest.Pair, ap netip.AddrPort) *net.TCPListener {
	t.Helper()
	var ln *net.TCPListener
	if err := pair.Host.Do(func() (err error) {
		ln, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestClientFromRouteOnTheWire: without client, CLIENT is the address
// the client namespace sends from, which the daemon sees as the source.
func TestClientFromRouteOnTheWire(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	pair := netnstest.NewPair(t)
	got := wire(t, pair, pair.ClientV4, 8, "-conf", "testdata/knockclient.conf", "-client", "", "-remote", pair.HostV4.String(), "-timeout", "0")
	codec, err := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := codec.Decode(ports(got))
	if err != nil || v.Client != pair.ClientV4 || v.Port != 22 {
		t.Fatalf("%+v, %v", v, err)
	}
}

// TestSealedOnTheWire: a sealed knock over the span (IPv6, so the
// message carries a 16-byte address), and -spa's one datagram.
func TestSealedOnTheWire(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	pair := netnstest.NewPair(t)
	key := sealedKey(t)
	span, _ := portspan.Parse("2000-2255")

	got := wire(t, pair, pair.ClientV6, span.Ports(sealed.SizeIPv6), "-conf", "testdata/sealed.conf",
		"-client", "", "-remote", pair.HostV6.String(), "-timeout", "0")
	b, err := sealed.Decode(span, ports(got))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := sealed.Open(key, b, time.Now(), time.Minute); err != nil || m.Client != pair.ClientV6 || m.Port != 22 {
		t.Fatalf("%+v, %v", m, err)
	}

	got = wire(t, pair, pair.ClientV4, 1, "-conf", "testdata/sealed.conf", "-client", "", "-remote", pair.HostV4.String(), "-spa")
	if got[0].Proto != "udp" || got[0].DstPort != 62201 {
		t.Fatalf("%v", got[0])
	}
	b, err = sealed.ParseSPA(got[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := sealed.OpenFrom(key, b, got[0].Src, time.Now(), time.Minute); err != nil || m.Client != pair.ClientV4 {
		t.Fatalf("%+v, %v", m, err)
	}
}
