package knockd

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A trace (testdata/traces/*.trace) is a knockd.conf, the packets sent to
// it, and the doors that must open, in three parts split by "---" lines:
//
//	[ssh]
//	sequence = 7000,8000:udp
//	---
//	# seconds  source    destination  proto/port  [tcp flags, syn if none]
//	0          10.1.0.1  host         tcp/7000    syn
//	0.1        10.1.0.1  host         udp/8000
//	---
//	ssh 10.1.0.1
//
// The third part is what knockd 0.8 opens, and the Matcher with
// KnockdWipe. An optional fourth part, after another "---", is what the
// Matcher opens without it, where knockd's wipe makes a difference.
//
// The destination "host" is the host's IPv4 address, "host6" its IPv6 one;
// flags are a comma-separated list of fin syn rst psh ack urg, or "none".
// The test adds to each door a start command recording "door source".
type trace struct {
	name    string
	conf    string
	packets []Packet
	want    []string // "door source", in the order the doors open
	fixed   []string // the same without KnockdWipe
}

var (
	traceHost4 = netip.MustParseAddr("10.77.0.1") // as netns.NewPair gives
	traceHost6 = netip.MustParseAddr("fd77::1")
	traceEpoch = time.Unix(1_000_000, 0)
)

func readTraces(tb testing.TB) []trace {
	tb.Helper()
	files, err := filepath.Glob("testdata/traces/*.trace")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no traces in testdata/traces (err %v)", err)
	}
	var out []trace
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		tr, err := parseTrace(strings.TrimSuffix(filepath.Base(f), ".trace"), string(b))
		if err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
		out = append(out, tr)
	}
	return out
}

func parseTrace(name, text string) (trace, error) {
	parts := strings.Split(text, "\n---\n")
	if len(parts) != 3 && len(parts) != 4 {
		return trace{}, fmt.Errorf("want 3 or 4 parts split by ---, got %d", len(parts))
	}
	tr := trace{name: name, conf: parts[0]}
	for _, line := range strings.Split(parts[1], "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		p, err := parsePacket(line)
		if err != nil {
			return trace{}, err
		}
		tr.packets = append(tr.packets, p)
	}
	tr.want = opens(parts[2])
	tr.fixed = tr.want
	if len(parts) == 4 {
		tr.fixed = opens(parts[3])
	}
	return tr, nil
}

func opens(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		out = append(out, strings.Join(strings.Fields(line), " "))
	}
	return out
}

var flagBits = map[string]uint8{"fin": FIN, "syn": SYN, "rst": RST, "psh": PSH, "ack": ACK, "urg": URG, "none": 0}

// parsePacket reads "seconds source destination proto/port [flags]".
func parsePacket(line string) (Packet, error) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f) > 5 {
		return Packet{}, fmt.Errorf("packet %q: want seconds source destination proto/port [flags]", line)
	}
	secs, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return Packet{}, fmt.Errorf("packet %q: %w", line, err)
	}
	p := Packet{Time: traceEpoch.Add(time.Duration(secs * float64(time.Second))), Iface: "eth0", TCPFlags: SYN}
	if p.Src, err = netip.ParseAddr(f[1]); err != nil {
		return Packet{}, fmt.Errorf("packet %q: %w", line, err)
	}
	switch f[2] {
	case "host":
		p.Dst = traceHost4
	case "host6":
		p.Dst = traceHost6
	default:
		if p.Dst, err = netip.ParseAddr(f[2]); err != nil {
			return Packet{}, fmt.Errorf("packet %q: %w", line, err)
		}
	}
	proto, port, _ := strings.Cut(f[3], "/")
	switch proto {
	case "tcp":
		p.Proto = TCP
	case "udp":
		p.Proto = UDP
		p.TCPFlags = 0
	default:
		return Packet{}, fmt.Errorf("packet %q: protocol %q", line, proto)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Packet{}, fmt.Errorf("packet %q: %w", line, err)
	}
	p.Port = uint16(n)
	if len(f) == 5 {
		if p.Proto != TCP {
			return Packet{}, fmt.Errorf("packet %q: flags on udp", line)
		}
		p.TCPFlags = 0
		for w := range strings.SplitSeq(f[4], ",") {
			bit, ok := flagBits[w]
			if !ok {
				return Packet{}, fmt.Errorf("packet %q: flag %q", line, w)
			}
			p.TCPFlags |= bit
		}
	}
	return p, nil
}

// replay feeds a trace to a Matcher and returns "door source" per open.
func (tr trace) replay(tb testing.TB, local []netip.Addr, wipe bool) []string {
	tb.Helper()
	c, err := ParseText(tr.name+".trace", tr.conf)
	if err != nil {
		tb.Fatal(err)
	}
	m := NewMatcher(c, MatcherConfig{Interface: "eth0", Local: local, KnockdWipe: wipe})
	var got []string
	for _, p := range tr.packets {
		for _, ev := range m.Packet(p) {
			got = append(got, ev.Door.Name+" "+ev.Src.String())
		}
	}
	return got
}

// TestTraces runs every trace through the Matcher alone; TestDifferential
// runs them through knockd too.
func TestTraces(t *testing.T) {
	local := []netip.Addr{traceHost4, traceHost6}
	for _, tr := range readTraces(t) {
		t.Run(tr.name, func(t *testing.T) {
			if got := tr.replay(t, local, true); !slices.Equal(got, tr.want) {
				t.Errorf("with KnockdWipe: opened %q, want %q", got, tr.want)
			}
			if got := tr.replay(t, local, false); !slices.Equal(got, tr.fixed) {
				t.Errorf("opened %q, want %q", got, tr.fixed)
			}
		})
	}
}
