package nflog_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/nflog"
	"github.com/portknock/knock/source/packet/packettest"
)

func needNetns(tb testing.TB) *netnstest.Pair {
	tb.Helper()
	testenv.NeedRoot(tb)
	testenv.NeedCommand(tb, "ip", "apt-get install iproute2")
	testenv.NeedCommand(tb, "nft", "apt-get install nftables")
	return netnstest.NewPair(tb)
}

// start runs a source in the pair's host namespace until the test ends.
func start(tb testing.TB, p *netnstest.Pair, cfg nflog.Config, hits chan source.Hit) *nflog.Source {
	tb.Helper()
	fd, err := p.Host.Open()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.NewFile(uintptr(fd), p.Host.Name).Close() })
	cfg.NetNSFd = fd
	s, err := nflog.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, hits) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		tb.Fatalf("Run ended before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		tb.Fatal("source not ready after 10s")
	}
	return s
}

// TestKnocks is the end-to-end proof: real knocks from the client
// namespace, reported by the source in the host namespace.
func TestKnocks(t *testing.T) {
	for _, tc := range []struct {
		name, span string
		in         []uint16
		out        uint16
		drop       string // the host's drop ruleset's ports, if any
		spa        uint16 // a single-packet port outside the span, if any
		iface      string
	}{
		{name: "contiguous", span: "745-1000", in: []uint16{745, 900, 1000}, out: 1001},
		{name: "non-contiguous", span: "7000-7003,8000-8003", in: []uint16{8003, 7000, 7002}, out: 7004},
		{name: "spa port", span: "745-1000", in: []uint16{62201, 745}, out: 62200, spa: 62201},
		{name: "interface", span: "745-1000", in: []uint16{800, 801}, out: 744, iface: "eth0"},
		{name: "host drops all", span: "7000-7003,8000-8003", in: []uint16{7001, 8000}, out: 9000, drop: "7000-9000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := needNetns(t)
			if tc.drop != "" {
				packettest.DropAll(t, p.Host, tc.drop)
			}
			hits := make(chan source.Hit, 100)
			var extra []uint16
			if tc.spa != 0 {
				extra = append(extra, tc.spa)
			}
			start(t, p, nflog.Config{Span: packettest.Span(t, tc.span), Extra: extra, Interface: tc.iface}, hits)
			packettest.Scenario{Pair: p, Hits: hits, In: tc.in, Out: tc.out, Converse: tc.drop == ""}.Run(t)
		})
	}
}

// TestInterface checks that a source limited to one interface ignores
// knocks arriving on another: the client's come over eth0, the host's own
// marker over lo.
func TestInterface(t *testing.T) {
	p := needNetns(t)
	hits := make(chan source.Hit, 100)
	start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), Interface: "lo"}, hits)
	packettest.Send(t, p, packettest.Knock{Dst: p.HostV4, Proto: knock.TCP, Port: 800},
		packettest.Knock{Dst: p.HostV6, Proto: knock.UDP, Port: 801, Payload: []byte("x")})
	marker := packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 802, Payload: []byte("marker")}
	packettest.SendFrom(t, p.Host, marker)
	packettest.Expect(t, hits, nil, source.Hit{Src: p.HostV4, Dst: p.HostV4, Proto: knock.UDP, Port: 802, Payload: []byte("marker")})
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  nflog.Config
		want string
	}{
		{nflog.Config{}, "no knock span"},
		{nflog.Config{Extra: []uint16{745}, Interface: "a-very-long-name0"}, `"a-very-long-name0"`},
		{nflog.Config{Extra: []uint16{745}, Batch: -1}, "batch of -1 packets, want 0 to 1024"},
		{nflog.Config{Extra: []uint16{745}, Batch: 1025}, "batch of 1025 packets"},
	} {
		if _, err := nflog.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error with %s", tc.cfg, err, tc.want)
		}
	}
}

// TestClockAndCounters checks that hits carry the injected clock's time
// and that every packet logged is counted.
func TestClockAndCounters(t *testing.T) {
	p := needNetns(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hits := make(chan source.Hit, 100)
	s := start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), Now: func() time.Time { return now }}, hits)
	k := packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 745, Payload: []byte("knock")}
	packettest.Send(t, p, k, k)
	for range 2 {
		if h := <-hits; !h.Time.Equal(now) || !packettest.Same(h, packettest.HitOf(p, k)) {
			t.Errorf("hit %s at %v, want %s at the clock's %v", packettest.String(h), h.Time, packettest.String(packettest.HitOf(p, k)), now)
		}
	}
	c := s.Counters()
	if c["packets_seen"] != 2 || c["hits"] != 2 || c["packets_malformed"] != 0 || c["overruns"] != 0 {
		t.Errorf("counters %v, want 2 packets seen and 2 hits", c)
	}
}

// TestTable checks the rule the source installs, that it replaces a table
// left over by a daemon that died, and that it removes its table on exit.
func TestTable(t *testing.T) {
	p := needNetns(t)
	p.Host.MustRun("nft", "add table inet portknock_log_12; add chain inet portknock_log_12 stale")
	hits := make(chan source.Hit, 1)
	fd, err := p.Host.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer os.NewFile(uintptr(fd), "netns").Close()
	s, err := nflog.New(nflog.Config{Span: packettest.Span(t, "100-103,200-201,65534-65535"), Extra: []uint16{62201}, Group: 12, Interface: "eth0", NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, hits) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	got := p.Host.MustRun("nft", "list", "table", "inet", "portknock_log_12")
	golden, err := os.ReadFile("testdata/ruleset.golden")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(got) != strings.TrimSpace(string(golden)) {
		t.Errorf("installed table:\n%s\nwant (testdata/ruleset.golden):\n%s", got, golden)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if tables := p.Host.MustRun("nft", "list", "tables"); strings.Contains(tables, "portknock_log") {
		t.Errorf("table left behind after Run:\n%s", tables)
	}
}

// TestOverrun floods a source whose reader is stalled and whose socket
// buffer is tiny: the kernel drops what does not fit, the source counts
// it, and goes on delivering once read again.
func TestOverrun(t *testing.T) {
	p := needNetns(t)
	hits := make(chan source.Hit) // nobody reads yet: the reader stalls
	s := start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), ReadBuffer: 1}, hits)
	flood := make([]packettest.Knock, 300)
	for i := range flood {
		flood[i] = packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 900, Payload: []byte("flood")}
	}
	packettest.Send(t, p, flood...)
	n := drain(hits, 500*time.Millisecond)
	marker := packettest.Knock{Dst: p.HostV6, Proto: knock.UDP, Port: 901, Payload: []byte("marker")}
	packettest.Send(t, p, marker) // its sequence number shows the gap of any last knocks lost
	packettest.Expect(t, hits, nil, packettest.HitOf(p, marker))
	c := s.Counters()
	t.Logf("%d of %d flood knocks delivered; counters %v", n, len(flood), c)
	if c["overruns"] == 0 || uint64(n)+c["overruns"] != uint64(len(flood)) {
		t.Errorf("%d delivered and %d overruns, want some overruns and %d in all", n, c["overruns"], len(flood))
	}
}

// drain reads hits until none has come for quiet, and returns how many.
func drain(hits <-chan source.Hit, quiet time.Duration) int {
	for n := 0; ; n++ {
		select {
		case <-hits:
		case <-time.After(quiet):
			return n
		}
	}
}

// TestDoorPorts checks knockd's door ports: a whole TCP conversation to
// one is reported, each segment once with its flags, beside the span's
// SYNs, and goes through although the source drops knocks (a door may
// share a live service's port); the rule is the golden one.
func TestDoorPorts(t *testing.T) {
	p := needNetns(t)
	hits := make(chan source.Hit, 100)
	start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), AnyFlags: []uint16{800, 9100}, DoorUDP: []uint16{9200, 9300}, Group: 13, Drop: true}, hits)
	got := p.Host.MustRun("nft", "list", "table", "inet", "portknock_log_13")
	golden, err := os.ReadFile("testdata/ruleset-doors.golden")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(got) != strings.TrimSpace(string(golden)) {
		t.Errorf("installed table:\n%s\nwant (testdata/ruleset-doors.golden):\n%s", got, golden)
	}
	packettest.Converse(t, p, p.HostV4, 9100)
	packettest.Send(t, p, packettest.Knock{Dst: p.HostV4, Proto: knock.TCP, Port: 800})
	marker := packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 9200, Payload: []byte("marker")}
	packettest.Send(t, p, marker)
	var flags []uint8
	syns := 0
	for h := range hits {
		if packettest.Same(h, packettest.HitOf(p, marker)) {
			break
		}
		switch {
		case h.Port == 9100:
			flags = append(flags, h.TCPFlags)
		case h.Port == 800 && h.TCPFlags == 0x02:
			syns++
		default:
			t.Errorf("unexpected hit %s flags %#x", packettest.String(h), h.TCPFlags)
		}
	}
	if syns != 1 {
		t.Errorf("the SYN to port 800, in both sets, was reported %d times, want once", syns)
	}
	if len(flags) < 3 || flags[0] != 0x02 || !slices.ContainsFunc(flags, func(f uint8) bool { return f&0x10 != 0 }) {
		t.Errorf("the conversation to a door's port gave flags %#x: want a SYN first, then segments with ACK", flags)
	}
}
