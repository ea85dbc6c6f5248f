package knockd

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/netnstest"
)

// The marker: a door only knockd has, opened last from its own source. Its
// OPEN SESAME means knockd has processed every packet sent before it.
var (
	markerSrc  = netip.MustParseAddr("10.77.9.9")
	markerPort = uint16(65000)
)

const markerDoor = "zzmarker"

// TestDifferential runs each trace through Debian's knockd 0.8, listening
// on a veth in a namespace of its own, and through the Matcher, and checks
// that both open the doors the trace wants: the same doors for the same
// sources in the same order, and knockd's commands recording them.
func TestDifferential(t *testing.T) {
	needKnockd(t)
	for _, tr := range readTraces(t) {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			runDifferential(t, tr)
		})
	}
}

func runDifferential(t *testing.T, tr trace) {
	p := netnstest.NewPair(t)
	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	conf := filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(conf, []byte(knockdConf(tr.conf, record)), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := startKnockd(t, p.Host, conf)
	if err != nil {
		t.Fatal(err)
	}
	mac := hostMAC(t, p.Host)
	var sock *packetSocket
	if err := p.Client.Do(func() (err error) {
		sock, err = openPacketSocket("eth0", mac)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sock.close()
	last := traceEpoch
	if n := len(tr.packets); n > 0 {
		last = tr.packets[n-1].Time
	}
	marker := Packet{Time: last, Src: markerSrc, Dst: traceHost4, Proto: UDP, Port: markerPort}
	if err := sock.sendAll(time.Now(), append(slices.Clone(tr.packets), marker)); err != nil {
		t.Fatal(err)
	}
	if !k.waitLine(markerDoor+": OPEN SESAME", 20*time.Second) {
		t.Fatalf("knockd never saw the marker:\n%s", k.output())
	}
	var opened []string
	for _, l := range k.lines(": OPEN SESAME") {
		l = strings.TrimSuffix(l, ": OPEN SESAME")
		i := strings.LastIndex(l, ": ")
		if door := l[i+2:]; door != markerDoor {
			opened = append(opened, door+" "+l[:i])
		}
	}
	if !slices.Equal(opened, tr.want) {
		t.Errorf("knockd opened %q, the trace wants %q\nknockd said:\n%s", opened, tr.want, k.output())
	}
	ran := waitRecord(t, record, len(opened))
	if want := sorted(tr.want); !slices.Equal(sorted(ran), want) {
		t.Errorf("knockd's commands recorded %q, want %q", ran, want)
	}
	local := localAddrs(t, p.Host)
	if got := tr.replay(t, local, true); !slices.Equal(got, tr.want) {
		t.Errorf("the Matcher with KnockdWipe opened %q, want %q (knockd: %q)", got, tr.want, opened)
	}
	if got := tr.replay(t, local, false); !slices.Equal(got, tr.fixed) {
		t.Errorf("the Matcher opened %q, want %q (knockd: %q)", got, tr.fixed, opened)
	}
}

// knockdConf is the trace's configuration with a start command recording
// each open in record, and the marker door.
func knockdConf(conf, record string) string {
	var b strings.Builder
	for _, line := range strings.Split(conf, "\n") {
		b.WriteString(line + "\n")
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") && l != "[options]" {
			fmt.Fprintf(&b, "start_command = echo '%s %%IP%%' >> %s\n", l[1:len(l)-1], record)
		}
	}
	fmt.Fprintf(&b, "[%s]\nsequence = %d:udp\n", markerDoor, markerPort)
	return b.String()
}

// waitRecord waits until the record file has the n lines of the n opens
// knockd reported (its commands run in children, after the report), and
// returns them.
func waitRecord(t *testing.T, path string, n int) []string {
	t.Helper()
	read := func() []string {
		b, _ := os.ReadFile(path)
		return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "_"))
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(read()) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var out []string
	for _, l := range read() {
		out = append(out, strings.ReplaceAll(l, "_", " "))
	}
	return out
}

func hostMAC(t *testing.T, ns *netnstest.NS) net.HardwareAddr {
	t.Helper()
	f := strings.Fields(ns.MustRun("ip", "-o", "link", "show", "dev", "eth0"))
	for i, w := range f {
		if w == "link/ether" && i+1 < len(f) {
			mac, err := net.ParseMAC(f[i+1])
			if err != nil {
				t.Fatal(err)
			}
			return mac
		}
	}
	t.Fatalf("no MAC address for eth0 in %s", ns.Name)
	return nil
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestOneTimeDifferential checks one-time sequences against the real
// knockd: which knocks open, and what the file holds afterwards.
func TestOneTimeDifferential(t *testing.T) {
	needKnockd(t)
	t.Parallel()
	const file = "# one-time sequences\n\n7000,8000\n  9000:udp,9001\n6000,6001\n"
	const wantFile = "# one-time sequences\n\n#000,8000\n# 9000:udp,9001\n6000,6001\n"
	packets := []string{
		"0 10.1.0.1 host tcp/7000", "0 10.1.0.1 host tcp/8000", // opens, moves on
		"0 10.1.0.2 host tcp/7000", "0 10.1.0.2 host tcp/8000", // used up
		"0 10.1.0.3 host udp/9000", "0 10.1.0.3 host tcp/9001", // the next line
		"0 10.1.0.4 host tcp/6000", "0 10.1.0.4 host tcp/8000",
	}
	want := []string{"otp 10.1.0.1", "otp 10.1.0.3"}
	var trace []Packet
	for _, l := range packets {
		p, err := parsePacket(l)
		if err != nil {
			t.Fatal(err)
		}
		trace = append(trace, p)
	}
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "ours"), filepath.Join(dir, "theirs")
	for _, f := range []string{ours, theirs} {
		if err := os.WriteFile(f, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// The Matcher.
	oursConf := filepath.Join(dir, "ours.conf")
	if err := os.WriteFile(oursConf, []byte("[otp]\none_time_sequences = "+ours+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(oursConf)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(c, MatcherConfig{Local: []netip.Addr{traceHost4}})
	var got []string
	for _, p := range trace {
		for _, ev := range m.Packet(p) {
			got = append(got, ev.Door.Name+" "+ev.Src.String())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("the Matcher opened %q, want %q", got, want)
	}
	if b, _ := os.ReadFile(ours); string(b) != wantFile {
		t.Errorf("the Matcher left the file as\n%s\nwant\n%s", b, wantFile)
	}

	// knockd.
	p := netnstest.NewPair(t)
	record := filepath.Join(dir, "record")
	conf := filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(conf, []byte(knockdConf("[otp]\none_time_sequences = "+theirs+"\n", record)), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := startKnockd(t, p.Host, conf)
	if err != nil {
		t.Fatal(err)
	}
	var sock *packetSocket
	if err := p.Client.Do(func() (err error) {
		sock, err = openPacketSocket("eth0", hostMAC(t, p.Host))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sock.close()
	// knockd installs the new sequence's capture filter after the open:
	// packets arriving before are dropped by the old one. So the rest goes
	// only once a marker after the first open has been processed.
	marker := Packet{Time: traceEpoch, Src: markerSrc, Dst: traceHost4, Proto: UDP, Port: markerPort}
	for i, phase := range [][]Packet{trace[:2], trace[2:]} {
		if err := sock.sendAll(time.Now(), append(slices.Clone(phase), marker)); err != nil {
			t.Fatal(err)
		}
		if !k.waitCount(markerDoor+": OPEN SESAME", i+1, 20*time.Second) {
			t.Fatalf("knockd never saw marker %d:\n%s", i+1, k.output())
		}
	}
	if ran := waitRecord(t, record, len(want)); !slices.Equal(sorted(ran), sorted(want)) {
		t.Errorf("knockd opened %q, want %q\nknockd said:\n%s", ran, want, k.output())
	}
	if b, _ := os.ReadFile(theirs); string(b) != wantFile {
		t.Errorf("knockd left the file as\n%s\nwant\n%s", b, wantFile)
	}
}
