package ebpf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/packet/packettest"
)

const spaPort = 62201

func needPair(tb testing.TB) *netnstest.Pair {
	tb.Helper()
	testenv.NeedRoot(tb)
	testenv.NeedCommand(tb, "ip", "apt-get install iproute2")
	if err := Supported(); err != nil {
		testenv.Missing(tb, "eBPF", err, "a Linux 5.18 or later kernel, as root")
	}
	return netnstest.NewPair(tb)
}

// attached opens a source on the host's eth0: XDP in the host namespace,
// never in the root namespace.
func attached(tb testing.TB, p *netnstest.Pair, cfg Config) *Source {
	tb.Helper()
	cfg.Interfaces = []string{"eth0"}
	if cfg.Span == nil {
		cfg.Span = packettest.Span(tb, "7000-7255")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	cfg.SPAPorts = append(cfg.SPAPorts, spaPort)
	var s *Source
	if err := p.Host.Do(func() (err error) {
		s, err = New(cfg)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("attached: %v", s.Attachments())
	tb.Cleanup(func() { s.Close() })
	return s
}

// running runs the source; the returned stop ends Run and returns its
// error. The test's end stops it too.
func running(tb testing.TB, s *Source, hits chan source.Hit) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, hits) }()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return stop
}

// expect reads hits until the marker and checks that those from the
// marker's source before it are want, in order. Hits of other sources (a
// flood) are counted and returned.
func expect(tb testing.TB, hits <-chan source.Hit, want []source.Hit, marker source.Hit) (others int) {
	tb.Helper()
	var got []source.Hit
	timeout := time.After(20 * time.Second)
	for {
		select {
		case h := <-hits:
			switch {
			case packettest.Same(h, marker):
				if fmt.Sprint(strs(got)) != fmt.Sprint(strs(want)) {
					tb.Fatalf("source reported\n%s\nwant\n%s", strings.Join(strs(got), "\n"), strings.Join(strs(want), "\n"))
				}
				return others
			case h.Src == marker.Src || h.Src == want[0].Src:
				got = append(got, h)
			default:
				others++
			}
		case <-timeout:
			tb.Fatalf("no marker %s after 20s; source reported\n%s", packettest.String(marker), strings.Join(strs(got), "\n"))
		}
	}
}

func strs(hs []source.Hit) []string {
	var out []string
	for _, h := range hs {
		out = append(out, packettest.String(h))
	}
	return out
}

// knockOf is n span packets from the client to dst, TCP and UDP in turn.
func knockOf(p *netnstest.Pair, dst netip.Addr, first uint16, n int) []packettest.Knock {
	var ks []packettest.Knock
	for i := range n {
		proto := knock.TCP
		if i%2 == 1 {
			proto = knock.UDP
		}
		ks = append(ks, packettest.Knock{Dst: dst, Proto: proto, Port: first + uint16(i)*3})
	}
	return ks
}

func hitsOf(p *netnstest.Pair, ks []packettest.Knock) []source.Hit {
	var hs []source.Hit
	for _, k := range ks {
		hs = append(hs, packettest.HitOf(p, k))
	}
	return hs
}

func spa(p *netnstest.Pair, dst netip.Addr, payload string) packettest.Knock {
	return packettest.Knock{Dst: dst, Proto: knock.UDP, Port: spaPort, Payload: []byte(payload)}
}

// TestKnocks: real knocks from the client namespace over IPv4 and IPv6,
// TCP SYNs and UDP datagrams, and single-packet datagrams with their
// payload, arrive as hits in order.
func TestKnocks(t *testing.T) {
	for _, generic := range []bool{false, true} {
		t.Run(fmt.Sprintf("generic=%v", generic), func(t *testing.T) {
			p := needPair(t)
			hits := make(chan source.Hit, 100)
			s := attached(t, p, Config{MinKnock: 3, Generic: generic})
			if want := map[bool]string{false: "native", true: "generic"}[generic]; s.Attachments()[0].Mode != want {
				t.Errorf("attached %v, want %s", s.Attachments(), want)
			}
			running(t, s, hits)
			for _, dst := range []netip.Addr{p.HostV4, p.HostV6} {
				ks := knockOf(p, dst, 7001, 4)
				packettest.Send(t, p, ks...)
				marker := spa(p, dst, "single packet to "+dst.String())
				packettest.Send(t, p, marker)
				expect(t, hits, hitsOf(p, ks), packettest.HitOf(p, marker))
			}
			c := s.Counters()
			if c["dropped"] != 8 || c["spa"] != 2 || c["promotions"] != 2 {
				t.Errorf("counters %v: want 8 dropped, 2 spa, 2 promotions", c)
			}
		})
	}
}

// TestSpanDropped: the host never answers a span port, even one with a
// listener, while a port outside the span still answers.
func TestSpanDropped(t *testing.T) {
	p := needPair(t)
	s := attached(t, p, Config{MinKnock: 3})
	var ln net.Listener
	if err := p.Host.Do(func() (err error) {
		ln, err = net.Listen("tcp", ":7010")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial := func(port int) (err error) {
		p.Client.Do(func() error {
			var c net.Conn
			c, err = net.DialTimeout("tcp", fmt.Sprintf("%s:%d", p.HostV4, port), time.Second)
			if err == nil {
				c.Close()
			}
			return nil
		})
		return err
	}
	if err := dial(7300); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect outside the span: %v, want connection refused", err)
	}
	var ne net.Error
	if err := dial(7010); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("connect to a span port with a listener: %v, want a timeout (no SYN-ACK)", err)
	}
	if c := s.Counters(); c["dropped"] == 0 {
		t.Errorf("counters %v: nothing dropped", c)
	}
}

// TestDetach: Run's return leaves nothing attached.
func TestDetach(t *testing.T) {
	p := needPair(t)
	s := attached(t, p, Config{MinKnock: 3})
	if out := p.Host.MustRun("ip", "link", "show", "dev", "eth0"); !strings.Contains(out, "xdp") {
		t.Fatalf("no XDP program on eth0 after New:\n%s", out)
	}
	stop := running(t, s, make(chan source.Hit, 10))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if out := p.Host.MustRun("ip", "link", "show", "dev", "eth0"); strings.Contains(out, "xdp") {
		t.Fatalf("XDP program still on eth0 after Run returned:\n%s", out)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
}

// TestNoEthernet: an interface without an Ethernet header is refused with
// a reason, and nothing stays attached to the interfaces before it.
func TestNoEthernet(t *testing.T) {
	p := needPair(t)
	p.Host.MustRun("ip", "tuntap", "add", "dev", "tun0", "mode", "tun")
	err := p.Host.Do(func() error {
		_, err := New(Config{Interfaces: []string{"eth0", "tun0"}, Span: packettest.Span(t, "7000-7255"), MinKnock: 3, Timeout: time.Second})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `"tun0" has no Ethernet header`) {
		t.Fatalf("New on tun0: %v", err)
	}
	if out := p.Host.MustRun("ip", "link", "show", "dev", "eth0"); strings.Contains(out, "xdp") {
		t.Fatalf("XDP program left on eth0 after New failed:\n%s", out)
	}
}

// TestBusy: a second source on an interface that already has one is
// refused with a reason; the first stays attached.
func TestBusy(t *testing.T) {
	p := needPair(t)
	attached(t, p, Config{MinKnock: 3})
	err := p.Host.Do(func() error {
		_, err := New(Config{Interfaces: []string{"eth0"}, Span: packettest.Span(t, "7000-7255"), MinKnock: 3, Timeout: time.Second})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "another XDP program") {
		t.Fatalf("second New on eth0: %v", err)
	}
	if out := p.Host.MustRun("ip", "link", "show", "dev", "eth0"); !strings.Contains(out, "xdp") {
		t.Fatalf("the first source's program is gone:\n%s", out)
	}
}
