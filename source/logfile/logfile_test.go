package logfile

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portknock/knock/logline"
	"github.com/portknock/knock/source"
)

// patience bounds every wait, so that a lost line fails the test instead
// of hanging it; nothing is asserted about how fast lines come.
const patience = 20 * time.Second

var (
	fakeNow = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	remote  = netip.MustParseAddr("192.0.2.1")
)

// knockLine is line i as the client writes it: its number is in the
// client address.
func knockLine(i int) string {
	return logline.Render(logline.DefaultTemplate, logline.Fields{
		Date:       fakeNow,
		Client:     netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
		Remote:     remote,
		ClientPort: uint16(i),
		RemotePort: 745,
	}) + "\n"
}

func lineNumber(h source.Hit) int {
	a := h.Src.As4()
	return int(a[1])<<16 | int(a[2])<<8 | int(a[3])
}

// modes are the ways of waking: inotify alone (the ticker never fires
// during a test), and polling alone.
var modes = []struct {
	name string
	cfg  Config
}{
	{"inotify", Config{Poll: time.Hour}},
	{"poll", Config{Poll: time.Millisecond, PollOnly: true}},
}

func forModes(t *testing.T, f func(t *testing.T, cfg Config)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			if !m.cfg.PollOnly && runtime.GOOS != "linux" {
				t.Skip("inotify is Linux only")
			}
			f(t, m.cfg)
		})
	}
}

// running is a Source in its own goroutine.
type running struct {
	src  *Source
	out  chan source.Hit
	stop func()
}

func start(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return fakeNow }
	}
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return startSource(t, src)
}

func startSource(t testing.TB, src *Source) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{src: src, out: make(chan source.Hit, 16)}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, r.out) }()
	r.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(patience):
			t.Errorf("Run did not return after its context ended")
		}
	})
	t.Cleanup(r.stop)
	return r
}

func (r *running) next(t *testing.T) source.Hit {
	t.Helper()
	select {
	case h := <-r.out:
		return h
	case <-time.After(patience):
		t.Fatalf("no hit; counters %v", r.src.Counters())
	}
	return source.Hit{}
}

// expect receives hits for lines want, in order.
func (r *running) expect(t *testing.T, want ...int) {
	t.Helper()
	for _, w := range want {
		if got := lineNumber(r.next(t)); got != w {
			t.Fatalf("hit for line %d, want %d", got, w)
		}
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Log("no fifo:", err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no log file"},
		{Config{Path: filepath.Join(dir, "nodir", "fw.log")}, `log file "` + dir + `/nodir/fw.log": stat ` + dir + "/nodir: no such file or directory"},
		{Config{Path: dir}, "is not a regular file"},
		{Config{Path: fifo}, "is not a regular file"},
		{Config{Path: filepath.Join(dir, "fw.log"), Poll: -1}, "must not be negative"},
		{Config{Path: filepath.Join(dir, "fw.log"), Patterns: []string{`SRC=(?P<src>\S+)`}}, `pattern "SRC=(?P<src>\\S+)" lacks (?P<dport>...)`},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v)\n got  %v\n want an error with %s", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(Config{Path: filepath.Join(dir, "not-yet.log")}); err != nil {
		t.Errorf("a missing file in an existing directory: %v", err)
	}
}

func TestRunHitsAndCounters(t *testing.T) {
	forModes(t, func(t *testing.T, cfg Config) {
		path := tempLog(t)
		appendFile(t, path, knockLine(1)+knockLine(2)) // old knocks: not acted on
		cfg.Path = path
		r := start(t, cfg)
		appendFile(t, path, strings.Join([]string{
			"Nov 22 10:30:01 gate sshd[812]: Accepted publickey for root",
			strings.Replace(knockLine(3), " SYN ", " ACK ", 1) +
				strings.Replace(knockLine(4), "DPT=745", "DPT=74500", 1) +
				strings.TrimSuffix(knockLine(5), "\n"),
			"Nov 22 10:30:00 gate kernel: knock: IN=eth0 OUT= SRC=10.0.0.6 DST=192.0.2.1 LEN=29 PROTO=UDP SPT=1 DPT=746 LEN=9 \r",
			"",
		}, "\n"))
		want := []source.Hit{
			{Time: fakeNow, Src: netip.MustParseAddr("10.0.0.5"), Dst: remote, Proto: "tcp", Port: 745},
			{Time: fakeNow, Src: netip.MustParseAddr("10.0.0.6"), Dst: remote, Proto: "udp", Port: 746},
		}
		for _, w := range want {
			if h := r.next(t); h.Time != w.Time || h.Src != w.Src || h.Dst != w.Dst || h.Proto != w.Proto || h.Port != w.Port || h.Payload != nil {
				t.Errorf("hit %+v, want %+v", h, w)
			}
		}
		got := r.src.Counters()
		wantCounts := map[string]uint64{
			"lines_read": 5, "lines_matched": 4, "lines_unmatched": 1, "lines_too_long": 0,
			"lines_not_knock": 1, "bad_fields": 1, "hits": 2, "rotations": 0, "truncations": 0, "tails_from_copy": 0, "read_errors": 0,
		}
		if !maps.Equal(got, wantCounts) {
			t.Errorf("counters\n got  %v\n want %v", got, wantCounts)
		}
	})
}

func TestFromStart(t *testing.T) {
	path := tempLog(t)
	appendFile(t, path, knockLine(1)+knockLine(2))
	r := start(t, Config{Path: path, FromStart: true, Poll: time.Millisecond})
	r.expect(t, 1, 2)
}

// TestFileAppearsLater: a daemon may start before the firewall's first
// log line; the file is read from its start when it comes.
func TestFileAppearsLater(t *testing.T) {
	forModes(t, func(t *testing.T, cfg Config) {
		var logs syncBuffer
		cfg.Path = tempLog(t)
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		r := start(t, cfg)
		waitFor(t, "a log of the missing file", func() bool { return strings.Contains(logs.String(), "waiting for the log file") })
		appendFile(t, cfg.Path, knockLine(1)+knockLine(2))
		r.expect(t, 1, 2)
		os.Rename(cfg.Path, cfg.Path+".1")
		appendFile(t, cfg.Path, knockLine(3))
		r.expect(t, 3)
		r.stop()
		for _, want := range []string{`msg="log file is there"`, `msg="log file replaced: reading the new one from its start"`} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("the log lacks %s:\n%s", want, logs.String())
			}
		}
	})
}

// syncBuffer is a bytes.Buffer for a logger in another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestResume: a second Run goes on where the first stopped, and two Runs
// at once are refused.
func TestResume(t *testing.T) {
	path := tempLog(t)
	src, err := New(Config{Path: path, Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := startSource(t, src)
	appendFile(t, path, knockLine(1))
	r.expect(t, 1)
	if err := src.Run(context.Background(), make(chan source.Hit)); !errors.Is(err, errRunning) {
		t.Errorf("second Run at once: %v, want %v", err, errRunning)
	}
	r.stop()
	appendFile(t, path, knockLine(2))
	startSource(t, src).expect(t, 2)
}

func TestMaxLine(t *testing.T) {
	path := tempLog(t)
	r := start(t, Config{Path: path, Poll: time.Millisecond, MaxLine: 250})
	appendFile(t, path, knockLine(1))
	appendFile(t, path, strings.Repeat("padding ", 10)+knockLine(2)) // a knock, but too long
	appendFile(t, path, knockLine(3))
	r.expect(t, 1, 3)
	if c := r.src.Counters(); c["lines_too_long"] != 1 || c["lines_read"] != 3 {
		t.Errorf("counters %v", c)
	}
}
