package flood

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"
)

// The IPv4 header of Wikipedia's "Internet checksum" example, whose
// checksum is b861: our sum over it, with the checksum in place, must
// fold to all ones.
func TestHeaderChecksumKnownVector(t *testing.T) {
	hdr, _ := hex.DecodeString("450000730000400040110000c0a80001c0a800c7")
	if got := ^fold(sum16(hdr, 0)); got != 0xb861 {
		t.Fatalf("checksum %04x, want b861", got)
	}
}

// naive is a second, independent checksum: one's-complement sum folded
// after every addition.
func naive(b []byte) uint16 {
	var s uint32
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		s += w
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func pseudo(pkt []byte) []byte {
	seg := pkt[IPv4HeaderLen:]
	p := append([]byte{}, pkt[12:20]...)
	p = append(p, 0, pkt[9], byte(len(seg)>>8), byte(len(seg)))
	return append(p, seg...)
}

func TestSYN(t *testing.T) {
	h := Header{Src: netip.MustParseAddr("10.200.3.4"), Dst: netip.MustParseAddr("10.88.0.1"),
		SrcPort: 51000, DstPort: 40007, ID: 7, Seq: 0xdeadbeef}
	pkt, err := AppendSYN(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkt) != SYNLen {
		t.Fatalf("length %d, want %d", len(pkt), SYNLen)
	}
	for _, c := range []struct {
		name string
		got  any
		want any
	}{
		{"version/ihl", pkt[0], byte(0x45)},
		{"total length", binary.BigEndian.Uint16(pkt[2:]), uint16(SYNLen)},
		{"protocol", pkt[9], byte(ProtoTCP)},
		{"ttl", pkt[8], byte(64)},
		{"src", netip.AddrFrom4([4]byte(pkt[12:16])), h.Src},
		{"dst", netip.AddrFrom4([4]byte(pkt[16:20])), h.Dst},
		{"sport", binary.BigEndian.Uint16(pkt[20:]), h.SrcPort},
		{"dport", binary.BigEndian.Uint16(pkt[22:]), h.DstPort},
		{"seq", binary.BigEndian.Uint32(pkt[24:]), h.Seq},
		{"flags", pkt[33], byte(0x02)},
		{"ip checksum", naive(pkt[:20]), uint16(0)},
		{"tcp checksum", naive(pseudo(pkt)), uint16(0)},
		{"Checksum", Checksum(pkt), true},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	pkt[30] ^= 1
	if Checksum(pkt) {
		t.Error("Checksum accepts a damaged segment")
	}
}

func TestUDP(t *testing.T) {
	for _, payload := range [][]byte{nil, []byte("odd"), bytes.Repeat([]byte{0xff}, 100)} {
		h := Header{Src: netip.MustParseAddr("10.78.1.2"), Dst: netip.MustParseAddr("10.88.0.1"), SrcPort: 4000, DstPort: 62201}
		pkt, err := AppendUDP(nil, h, payload)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pkt[28:], payload) && len(payload) > 0 {
			t.Errorf("payload %x, want %x", pkt[28:], payload)
		}
		if naive(pkt[:20]) != 0 || naive(pseudo(pkt)) != 0 || !Checksum(pkt) {
			t.Errorf("payload %q: checksums do not hold", payload)
		}
	}
}

func TestRefusesIPv6(t *testing.T) {
	h := Header{Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("10.0.0.1")}
	if _, err := AppendSYN(nil, h); err == nil {
		t.Error("SYN from an IPv6 address was built")
	}
	if _, err := AppendUDP(nil, h, nil); err == nil {
		t.Error("datagram from an IPv6 address was built")
	}
}

func TestChecksumRejectsJunk(t *testing.T) {
	for _, b := range [][]byte{nil, {0x45}, bytes.Repeat([]byte{0x60}, 40), bytes.Repeat([]byte{0x45}, 40)} {
		if Checksum(b) {
			t.Errorf("Checksum(%x) = true", b)
		}
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestLimiter(t *testing.T) {
	l := NewLimiter(1000, 50, t0)
	if n := l.Take(t0, 100); n != 0 {
		t.Errorf("a new limiter gave %d packets at once", n)
	}
	if n := l.Take(t0.Add(10*time.Millisecond), 100); n != 10 {
		t.Errorf("10 ms at 1000/s gave %d, want 10", n)
	}
	if n := l.Take(t0.Add(time.Second), 100); n != 50 {
		t.Errorf("after a long pause %d, want the burst of 50", n)
	}
	if d := l.Next(t0.Add(time.Second), 20); d != 20*time.Millisecond {
		t.Errorf("Next(20) = %s, want 20ms", d)
	}
	if n := l.Take(t0.Add(time.Second+5*time.Millisecond), 3); n != 3 {
		t.Errorf("Take with max 3 gave %d", n)
	}
}

// fakeClock advances only when the generator sleeps.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time        { return c.now }
func (c *fakeClock) Sleep(d time.Duration) { c.now = c.now.Add(max(d, time.Microsecond)) }

type recorder struct {
	n     int
	pkts  [][]byte
	limit int // keep at most this many packets
}

func (r *recorder) WriteBatch(p [][]byte) (int, error) {
	r.n += len(p)
	for _, b := range p {
		if len(r.pkts) < r.limit {
			r.pkts = append(r.pkts, append([]byte{}, b...))
		}
	}
	return len(p), nil
}

func testConfig() Config {
	return Config{
		Prefix: netip.MustParsePrefix("10.200.0.0/16"), Dst: netip.MustParseAddr("10.88.0.1"),
		Ports: []uint16{40000, 40001, 40002}, Rate: 10000, Duration: time.Second, Seed: 1,
	}
}

func TestRunRateAndBounds(t *testing.T) {
	cfg := testConfig()
	w := &recorder{limit: 2000}
	clk := &fakeClock{now: t0}
	st, err := Run(context.Background(), cfg, w, clk)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sent < 9900 || st.Sent > 10000 || w.n != int(st.Sent) {
		t.Errorf("sent %d (writer saw %d) in 1 s at 10000/s", st.Sent, w.n)
	}
	if st.Elapsed > time.Second+time.Millisecond {
		t.Errorf("ran %s, duration 1s", st.Elapsed)
	}
	srcs := map[netip.Addr]bool{}
	for _, p := range w.pkts {
		h := netip.AddrFrom4([4]byte(p[12:16]))
		dport := binary.BigEndian.Uint16(p[22:])
		if !cfg.Prefix.Contains(h) || dport < 40000 || dport > 40002 || !Checksum(p) {
			t.Fatalf("packet from %s to port %d (checksum %v)", h, dport, Checksum(p))
		}
		srcs[h] = true
	}
	if len(srcs) < 1900 {
		t.Errorf("%d distinct sources in 2000 packets from a /16", len(srcs))
	}

	cfg.Count = 123
	w = &recorder{}
	if st, _ := Run(context.Background(), cfg, w, &fakeClock{now: t0}); st.Sent != 123 {
		t.Errorf("count 123 sent %d", st.Sent)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, _ := Run(ctx, testConfig(), &recorder{}, &fakeClock{now: t0})
	if st.Sent != 0 {
		t.Errorf("a cancelled flood sent %d", st.Sent)
	}
}

func TestCheckRefusesUnbounded(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"no duration": func(c *Config) { c.Duration = 0 },
		"too long":    func(c *Config) { c.Duration = time.Hour },
		"no rate":     func(c *Config) { c.Rate = 0 },
		"huge rate":   func(c *Config) { c.Rate = 1e9 },
		"huge count":  func(c *Config) { c.Count = 1e9 },
		"no ports":    func(c *Config) { c.Ports = nil },
		"ipv6 prefix": func(c *Config) { c.Prefix = netip.MustParsePrefix("fd00::/64") },
		"tiny prefix": func(c *Config) { c.Prefix = netip.MustParsePrefix("10.0.0.1/32") },
		"ipv6 target": func(c *Config) { c.Dst = netip.MustParseAddr("fd00::1") },
	} {
		cfg := testConfig()
		mod(&cfg)
		if err := cfg.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSourcesStayInPrefix(t *testing.T) {
	p := netip.MustParsePrefix("192.0.2.64/26")
	s := NewSources(p, 3)
	seen := map[netip.Addr]bool{}
	for i := 0; i < 5000; i++ {
		a := s.Next()
		if !p.Contains(a) {
			t.Fatalf("%s is outside %s", a, p)
		}
		seen[a] = true
	}
	if len(seen) != 64 {
		t.Errorf("%d of the 64 addresses drawn", len(seen))
	}
}

func TestRechecksum(t *testing.T) {
	h := Header{Src: netip.MustParseAddr("10.78.0.9"), Dst: netip.MustParseAddr("10.88.0.1"), SrcPort: 5000, DstPort: 2201, Seq: 42}
	syn, _ := AppendSYN(nil, h)
	udp, _ := AppendUDP(nil, h, []byte("spa"))
	for _, pkt := range [][]byte{syn, udp} {
		want := append([]byte{}, pkt...)
		pkt[10], pkt[11] = 0x12, 0x34 // a partial checksum, as offload leaves it
		if pkt[9] == ProtoTCP {
			pkt[36], pkt[37] = 0xab, 0xcd
		} else {
			pkt[26], pkt[27] = 0xab, 0xcd
		}
		if !Rechecksum(pkt) || !bytes.Equal(pkt, want) || !Checksum(pkt) {
			t.Errorf("proto %d: got %x, want %x", pkt[9], pkt, want)
		}
	}
	if Rechecksum([]byte{0x60, 0}) || Rechecksum(nil) {
		t.Error("rechecksummed a non-IPv4 packet")
	}
}

// A flood from one unspoofed address: every packet from it, no prefix
// needed; an IPv6 one is refused.
func TestRunFromOneSource(t *testing.T) {
	cfg := testConfig()
	cfg.Prefix, cfg.From, cfg.Ports = netip.Prefix{}, netip.MustParseAddr("10.200.9.9"), []uint16{40018}
	w := &recorder{limit: 100}
	if _, err := Run(context.Background(), cfg, w, &fakeClock{now: t0}); err != nil {
		t.Fatal(err)
	}
	for _, p := range w.pkts {
		if src, dport := netip.AddrFrom4([4]byte(p[12:16])), binary.BigEndian.Uint16(p[22:]); src != cfg.From || dport != 40018 || !Checksum(p) {
			t.Fatalf("packet from %s to port %d", src, dport)
		}
	}
	cfg.From = netip.MustParseAddr("fd00::1")
	if err := cfg.Check(); err == nil {
		t.Fatal("an IPv6 source accepted")
	}
}

func TestRunUDPGarbage(t *testing.T) {
	cfg := testConfig()
	cfg.Ports, cfg.UDP = []uint16{62201, 62203}, 180
	w := &recorder{limit: 200}
	if _, err := Run(context.Background(), cfg, w, &fakeClock{now: t0}); err != nil {
		t.Fatal(err)
	}
	if len(w.pkts) == 0 {
		t.Fatal("nothing sent")
	}
	for _, p := range w.pkts {
		dport := binary.BigEndian.Uint16(p[22:])
		if p[9] != 17 || len(p) != 28+180 || (dport != 62201 && dport != 62203) || !Checksum(p) {
			t.Fatalf("packet: proto %d, %d bytes, port %d", p[9], len(p), dport)
		}
		if len(bytes.Trim(p[28:], b64)) > 0 {
			t.Fatalf("payload not base64 text: %q", p[28:])
		}
	}
	for _, bad := range []int{-1, MaxUDP + 1} {
		cfg.UDP = bad
		if cfg.Check() == nil {
			t.Errorf("payload %d accepted", bad)
		}
	}
}
