package packet

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/source"
)

func vectorFrame(t testing.TB, name string) []byte {
	t.Helper()
	v, err := readVector("testdata/vectors/" + name + ".hex")
	if err != nil {
		t.Fatal(err)
	}
	return v.frame
}

func TestSpanPorts(t *testing.T) {
	for _, tc := range []struct {
		span  string
		extra []uint16
		want  Ports
	}{
		{"745-1000", nil, Ports{{745, 1000}}},
		{"7008-7011,7000-7003", []uint16{62201}, Ports{{7000, 7003}, {7008, 7011}, {62201, 62201}}},
		{"5,4,6,7", []uint16{8, 3}, Ports{{3, 8}}},
		{"0-1,65534-65535", []uint16{1}, Ports{{0, 1}, {65534, 65535}}},
	} {
		sp, err := portspan.Parse(tc.span)
		if err != nil {
			t.Fatal(err)
		}
		if got := SpanPorts(sp, tc.extra...); !slices.Equal(got, tc.want) {
			t.Errorf("SpanPorts(%q, %v) = %v, want %v", tc.span, tc.extra, got, tc.want)
		}
	}
	if got := SpanPorts(nil, 62201); !slices.Equal(got, Ports{{62201, 62201}}) {
		t.Errorf("SpanPorts(nil, 62201) = %v", got)
	}
}

func TestPortsOf(t *testing.T) {
	for _, tc := range []struct {
		ports []uint16
		want  Ports
	}{
		{[]uint16{745, 746, 747}, Ports{{745, 747}}},
		{[]uint16{7008, 7009, 7000, 7001, 62201}, Ports{{7000, 7001}, {7008, 7009}, {62201, 62201}}},
		{[]uint16{5, 4, 6, 7, 5}, Ports{{4, 7}}},
		{[]uint16{65535, 0, 1, 65534}, Ports{{0, 1}, {65534, 65535}}},
		{nil, nil},
	} {
		if got := PortsOf(tc.ports...); !slices.Equal(got, tc.want) {
			t.Errorf("PortsOf(%v) = %v, want %v", tc.ports, got, tc.want)
		}
	}
}

func TestPortsContains(t *testing.T) {
	ps := PortsOf(0, 7000, 7001, 7002, 9000, 65535)
	for p := range 65536 {
		want := p == 0 || (p >= 7000 && p <= 7002) || p == 9000 || p == 65535
		if got := ps.Contains(uint16(p)); got != want {
			t.Fatalf("Contains(%d) = %v, want %v (set %v)", p, got, want, ps)
		}
	}
	if Ports(nil).Contains(1) {
		t.Error("the empty set contains 1")
	}
}

func TestFilterCounts(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := NewFilter(PortsOf(800, 801, 803), func() time.Time { return now })
	for _, tc := range []struct {
		vector string
		hit    bool
	}{
		{"tcp4-syn", true},     // port 800
		{"tcp6-syn", true},     // port 801
		{"udp4-knock", true},   // port 803
		{"udp6-knock", false},  // port 804: outside
		{"tcp4-ack", false},    // not a SYN
		{"bad-ip4-ihl", false}, // malformed
		{"bad-tcp4-cut", false},
		{"arp-request", false},
	} {
		h, ok := f.Frame(vectorFrame(t, tc.vector))
		if ok != tc.hit {
			t.Errorf("%s: hit %v, want %v", tc.vector, ok, tc.hit)
		}
		if ok && !h.Time.Equal(now) {
			t.Errorf("%s: time %v, want the clock's %v", tc.vector, h.Time, now)
		}
	}
	f.CountOverruns(3)
	f.CountReadError()
	want := map[string]uint64{
		"packets_seen": 8, "packets_parsed": 6, "packets_malformed": 2,
		"packets_not_knock": 3, "hits": 3, "overruns": 3, "read_errors": 1,
	}
	if got := f.Counters(); !maps.Equal(got, want) {
		t.Errorf("counters %v, want %v", got, want)
	}
}

// TestFilterIP checks the IP entry point, the one NFLOG uses.
func TestFilterIP(t *testing.T) {
	f := NewFilter(PortsOf(803), nil)
	ip, _ := ipPart(vectorFrame(t, "udp4-knock"))
	h, ok := f.IP(ip)
	if !ok || h.Port != 803 || string(h.Payload) != "knock-single packet" || h.Time.IsZero() {
		t.Errorf("IP(udp4-knock) = %+v, %v", h, ok)
	}
}

// TestPayloadCopied checks that a hit does not keep the read buffer, which
// the sources reuse for the next packet.
func TestPayloadCopied(t *testing.T) {
	frame := vectorFrame(t, "udp6-knock")
	h, err := ParseFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	clear(frame)
	if string(h.Payload) != "knock-single packet" {
		t.Errorf("payload %q changed with the buffer", h.Payload)
	}
}

// TestNoAllocation checks the hot path: nothing is allocated for a packet
// that is no hit, or for a TCP hit; a UDP hit allocates its payload only.
func TestNoAllocation(t *testing.T) {
	f := NewFilter(PortsOf(800, 801, 803), time.Now)
	for _, tc := range []struct {
		vector string
		allocs float64
	}{
		{"tcp4-syn", 0}, {"tcp6-syn", 0}, {"qinq-tcp6-syn", 0}, {"udp4-knock", 1},
		{"udp6-knock", 0}, // outside the span: the payload is never copied
		{"tcp4-ack", 0}, {"bad-ip6-ext-chain", 0}, {"udp6-hbh-dstopts", 0},
	} {
		frame := vectorFrame(t, tc.vector)
		if got := testing.AllocsPerRun(100, func() { f.Frame(frame) }); got != tc.allocs {
			t.Errorf("%s: %v allocations per packet, want %v", tc.vector, got, tc.allocs)
		}
	}
}

// FuzzParseFrame checks that no frame panics the parser, that a hit is
// consistent with the bytes it came from, and that the Filter agrees.
func FuzzParseFrame(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.frame)
	}
	all := NewFilter(Ports{{0, 65535}}, time.Now)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseFrame(b)
		fh, ok := all.Frame(b)
		if ok != (err == nil) || (ok && !sameHit(h, withTime(fh, time.Time{}))) {
			t.Fatalf("ParseFrame gave %v %v, Filter.Frame %v %v", h, err, fh, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotKnock) {
				t.Fatalf("error %v is none of the sentinels", err)
			}
			return
		}
		checkHit(t, h, b)
	})
}

// FuzzParseIP checks IP packets as NFLOG hands them over, and that framing
// one in Ethernet changes nothing.
func FuzzParseIP(f *testing.F) {
	for _, v := range loadVectors(f) {
		if ip, ok := ipPart(v.frame); ok {
			f.Add(ip)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseIP(b)
		if err == nil {
			checkHit(t, h, b)
		}
		if len(b) == 0 || (b[0]>>4 != 4 && b[0]>>4 != 6) {
			return
		}
		frame := []byte{12: 0x08, 13: 0x00}
		if b[0]>>4 == 6 {
			frame[12], frame[13] = 0x86, 0xdd
		}
		fh, ferr := ParseFrame(append(frame, b...))
		if ferr != err || !sameHit(h, fh) {
			t.Fatalf("ParseIP %v %v, as a frame %v %v", h, err, fh, ferr)
		}
	})
}

func checkHit(t *testing.T, h source.Hit, b []byte) {
	t.Helper()
	switch {
	case h.Proto != knock.TCP && h.Proto != knock.UDP:
		t.Fatalf("protocol %q", h.Proto)
	case h.Proto == knock.TCP && h.Payload != nil:
		t.Fatalf("TCP hit with payload %x", h.Payload)
	case !h.Src.IsValid() || !h.Dst.IsValid() || h.Src.Is4In6():
		t.Fatalf("addresses %v -> %v", h.Src, h.Dst)
	case len(h.Payload) > len(b) || (len(h.Payload) > 0 && !bytes.Contains(b, h.Payload)):
		t.Fatalf("payload %x is not from the packet", h.Payload)
	}
}

func withTime(h source.Hit, t time.Time) source.Hit {
	h.Time = t
	return h
}

// TestDoorFilter checks the ports of knockd's doors: there, TCP segments
// with any flags are hits and carry their flags; on the span's ports only
// SYNs are, as before.
func TestDoorFilter(t *testing.T) {
	for _, tc := range []struct {
		vector string
		flags  uint8
	}{
		{"tcp4-syn", 0x02},
		{"tcp4-ack", 0x10},
		{"tcp4-fin", 0x01},
		{"tcp4-rstack", 0x14},
		{"tcp4-synack", 0x12},
		{"tcp6-psh-ack", 0x18},
		{"tcp6-syn", 0x02},
	} {
		frame := vectorFrame(t, tc.vector)
		var v view
		if err := parseFrame(frame, &v); err != nil {
			t.Fatalf("%s: %v", tc.vector, err)
		}
		if v.flags != tc.flags {
			t.Errorf("%s: flags %#x, want %#x", tc.vector, v.flags, tc.flags)
		}
		door := NewDoorFilter(nil, PortsOf(v.port), nil)
		h, ok := door.Frame(frame)
		if !ok || h.TCPFlags != tc.flags || h.Port != v.port {
			t.Errorf("%s on a door's port: %+v, %v; want a hit with flags %#x", tc.vector, h, ok, tc.flags)
		}
		span := NewDoorFilter(PortsOf(v.port), PortsOf(v.port+1), nil)
		_, ok = span.Frame(frame)
		if want := tc.flags&0x12 == 0x02; ok != want {
			t.Errorf("%s on a span's port: hit %v, want %v", tc.vector, ok, want)
		}
	}
	// A datagram to a door's UDP port is an extra port, not an any-flags one.
	if _, ok := NewDoorFilter(nil, PortsOf(803), nil).Frame(vectorFrame(t, "udp4-knock")); ok {
		t.Error("a datagram to a TCP door port is a hit")
	}
}
