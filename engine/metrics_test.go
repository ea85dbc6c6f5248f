package engine

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/source"
)

// logBuffer collects log lines, for tests that read what the operator
// would read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the lines containing every one of words.
func (l *logBuffer) lines(words ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// logRig is a rig whose engine logs to a buffer at level, with its
// metrics in a registry of their own.
func logRig(t *testing.T, level slog.Level, mutate func(*Config, *legacy.Protocol)) (*rig, *logBuffer, *prometheus.Registry) {
	t.Helper()
	r := newRig(t, mutate)
	buf := &logBuffer{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	r.e.log, r.e.acts.log, r.e.m, r.e.acts.m = log, log, m, m
	m.setGrants(r.e.acts.open)
	for _, p := range r.e.cfg.Protocols {
		m.zero(p.Name())
	}
	return r, buf, reg
}

func counter(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

// A clean knock is no rejection while it arrives: its first packets are
// pending, and -debug shows no "knock rejected" for them.
func TestKnockInProgressIsNoRejection(t *testing.T) {
	r, logs, _ := logRig(t, slog.LevelDebug, nil)
	r.knock("142.103.205.1", v1...)
	var rejected uint64
	for _, reason := range knock.Reasons {
		rejected += r.e.m.Rejected(reason)
	}
	if rejected != 0 || r.e.m.Accepted() != 1 {
		t.Fatalf("a clean knock: %d rejections, %d accepted; want 0 and 1", rejected, r.e.m.Accepted())
	}
	if n := counter(t, r.e.m.pending); n != float64(len(v1)-1) {
		t.Errorf("pending packets %v, want %d", n, len(v1)-1)
	}
	if got := logs.lines("knock rejected"); len(got) != 0 {
		t.Errorf("a clean knock logged rejections:\n%s", strings.Join(got, "\n"))
	}
	if n := counter(t, r.e.m.accepted.WithLabelValues("legacy", "")); n != 1 {
		t.Errorf(`accepted{protocol="legacy",user=""} = %v, want 1`, n)
	}
}

// A knock made with another key is one rejection and one warning that
// names its source; a flood of them is a few lines and a summary.
func TestWrongKeyIsLoggedWithinAQuota(t *testing.T) {
	r, logs, _ := logRig(t, slog.LevelInfo, nil)
	other, _ := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "not the key", Span: "745-1000"})
	ports, err := other.Encode(legacy.Values{Client: netip.MustParseAddr("192.0.2.9"), Port: 22, Flags: map[int]int{0: 15}})
	if err != nil {
		t.Fatal(err)
	}
	r.knock("192.0.2.9", ports...)
	wrong := r.e.m.Rejected(knock.ReasonDecrypt) + r.e.m.Rejected(knock.ReasonChecksum)
	if wrong != 1 {
		t.Fatalf("a knock with a wrong key: %d decrypt or checksum rejections, want 1", wrong)
	}
	if got := logs.lines("level=WARN", "knock with a wrong key", "src=192.0.2.9"); len(got) != 1 {
		t.Fatalf("want one warning naming the source, got:\n%s", logs)
	}
	// Each from its own source: one source's knocks back to back make a
	// candidate of every window across them.
	for i := range 3 * perMinute {
		r.knock(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}).String(), ports...)
	}
	if got := logs.lines("knock with a wrong key"); len(got) != perMinute {
		t.Fatalf("%d wrong-key lines in a minute, want %d", len(got), perMinute)
	}
	r.clk.t = r.clk.t.Add(time.Minute)
	r.e.summarize()
	if got := logs.lines("level=WARN", "11 more knocks with a wrong key in the last minute"); len(got) != 1 {
		t.Fatalf("no summary of the lines held back:\n%s", logs)
	}
}

// A knock whose packets come further apart than the knock timeout starts
// over: counted, and told.
func TestSlowKnock(t *testing.T) {
	r, logs, _ := logRig(t, slog.LevelInfo, nil)
	r.knock("142.103.205.1", v1[:4]...)
	r.clk.t = r.clk.t.Add(11 * time.Second) // the default knocktimeout is 10 s
	r.knock("142.103.205.1", v1[4:]...)
	if n := counter(t, r.e.m.slow); n != 1 {
		t.Fatalf("knocks timed out %v, want 1", n)
	}
	if len(r.fw.Log) != 0 {
		t.Fatalf("a knock sent too slowly opened: %v", r.fw.Log)
	}
	if got := logs.lines("level=INFO", "knock sent too slowly", "src=142.103.205.1", "port=831"); len(got) != 1 {
		t.Fatalf("want one line about the slow knock, got:\n%s", logs)
	}
}

// Hits outside every span are one line a minute.
func TestOutsideSpanSummary(t *testing.T) {
	r, logs, _ := logRig(t, slog.LevelInfo, nil)
	for range 3 {
		r.e.Handle(source.Hit{Time: r.clk.t, Src: netip.MustParseAddr("192.0.2.1"), Proto: knock.TCP, Port: 2000})
	}
	r.e.summarize()
	if logs.String() != "" {
		t.Fatalf("a summary before the minute ended:\n%s", logs)
	}
	r.clk.t = r.clk.t.Add(time.Minute)
	r.e.summarize()
	if got := logs.lines("level=INFO", "3 packets to ports outside the knock span in the last minute"); len(got) != 1 {
		t.Fatalf("no summary:\n%s", logs)
	}
	if n := counter(t, r.e.m.outsideSpan); n != 3 {
		t.Errorf("outside span %v, want 3", n)
	}
}

// A grant is told when it opens, when a repeated knock extends it, and
// when the firewall no longer has it.
func TestGrantLifecycleLogged(t *testing.T) {
	r, logs, _ := logRig(t, slog.LevelInfo, func(c *Config, _ *legacy.Protocol) { c.Replay = false })
	r.knock("142.103.205.1", v1...)
	r.knock("142.103.205.1", v1...)
	for _, want := range []string{"grant opened", "grant extended by a repeated knock"} {
		if got := logs.lines("level=INFO", want, "client=142.103.205.1", "port=tcp/22"); len(got) != 1 {
			t.Fatalf("want one %q line, got:\n%s", want, logs)
		}
	}
	r.e.acts.checkEnded()
	if got := logs.lines("grant ended"); len(got) != 0 {
		t.Fatalf("a grant in force was said to end:\n%s", logs)
	}
	r.clk.t = r.clk.t.Add(16 * time.Minute)
	r.e.acts.checkEnded()
	if got := logs.lines("level=INFO", "grant ended", "client=142.103.205.1", "port=tcp/22", "on_time=true"); len(got) != 1 {
		t.Fatalf("want one line for the grant that ended, got:\n%s", logs)
	}
	if n := testutil.CollectAndCount(r.e.m.change); n != 1 {
		t.Fatalf("firewall change histogram: %d series", n)
	}
}

// The grants gauge reads the firewall, so grants a previous run made
// count; it asks the firewall at most every listCache.
func TestGrantsOpenReadsTheFirewall(t *testing.T) {
	r, _, reg := logRig(t, slog.LevelInfo, nil)
	// A grant from before a restart.
	r.fw.Open(context.Background(), firewall.Grant{Addr: netip.MustParseAddr("192.0.2.3"), Proto: knock.TCP, Port: 22, Duration: time.Hour})
	gauge := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "knockdaemon_grants_open" {
				return mf.Metric[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no knockdaemon_grants_open")
		return 0
	}
	if n := gauge(); n != 1 {
		t.Fatalf("grants open after a restart %v, want 1", n)
	}
	r.knock("142.103.205.1", v1...)
	if n := gauge(); n != 1 {
		t.Fatalf("grants open within the cache time %v, want the cached 1", n)
	}
	r.clk.t = r.clk.t.Add(listCache)
	if n := gauge(); n != 2 {
		t.Fatalf("grants open %v, want 2", n)
	}
}

// Only configured names become label values.
func TestUserLabel(t *testing.T) {
	for _, tc := range []struct {
		req  knock.Request
		want string
	}{
		{knock.Request{Protocol: knock.FWKNOP, User: "anything@the.wire@access.conf:7"}, "access.conf:7"},
		{knock.Request{Protocol: knock.FWKNOP, User: "no stanza"}, ""},
		{knock.Request{Protocol: knock.Sealed, User: "alice"}, "alice"},
		{knock.Request{Protocol: knock.Legacy}, ""},
	} {
		if got := userLabel(tc.req); got != tc.want {
			t.Errorf("userLabel(%q, %q) = %q, want %q", tc.req.Protocol, tc.req.User, got, tc.want)
		}
	}
}

// Sealed knocks in progress pass no first look: a hundred clean knocks
// are a hundred acceptances and no rejection.
func TestSealedKnocksInProgressAreNoRejections(t *testing.T) {
	r, key, span := sealedRig(t)
	for i := range 100 {
		src := netip.AddrFrom4([4]byte{10, 77, 0, byte(1 + i)})
		msg := sealMsg(t, key, sealed.Message{Client: src, Port: 22, Proto: "tcp", Duration: 10 * time.Minute, Time: r.clk.t, Nonce: uint16(i + 1)})
		r.knock(src.String(), sealed.Encode(span, msg)...)
	}
	var rejected uint64
	for _, reason := range knock.Reasons {
		rejected += r.e.m.Rejected(reason)
	}
	if r.e.m.Accepted() != 100 || rejected != 0 {
		t.Fatalf("100 clean sealed knocks: %d accepted, %d rejected", r.e.m.Accepted(), rejected)
	}
}
