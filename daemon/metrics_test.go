package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/logline"
)

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

// The metrics endpoint serves what promtool accepts: names with their
// units, counters ending in _total, help for everything, after a knock
// has gone through.
func TestMetricsPassPromtool(t *testing.T) {
	promtool := testenv.NeedCommand(t, "promtool", "apt-get install prometheus")
	dir := t.TempDir()
	klog, flag := filepath.Join(dir, "kern.log"), filepath.Join(dir, "open-22")
	os.WriteFile(klog, nil, 0o600)
	set := loadConf(t, fmt.Sprintf(`
knock        = CLIENT,PORT,FLAG0,CHECKSUM
key          = knock
portspan     = 745-1000
runmode      = file
logfile      = %s
firewall     = command
opencommand  = /usr/bin/touch %s
closecommand = /bin/rm -f %s
timefield    = none
replayfile   = %s
metrics      = 127.0.0.1:0
`, klog, flag, flag, filepath.Join(dir, "state", "replay")))
	logs := &syncBuffer{}
	d, err := daemon.New(set, daemon.Options{Log: slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	urlRE := regexp.MustCompile(`url=(http://\S+/metrics)`)
	waitFor(t, "the metrics endpoint", func() bool { return urlRE.MatchString(logs.String()) })
	url := urlRE.FindStringSubmatch(logs.String())[1]

	codec, _ := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
	ports, _ := codec.Encode(legacy.Values{Client: netip.MustParseAddr("192.0.2.7"), Port: 22, Flags: map[int]int{0: 1}})
	time.Sleep(200 * time.Millisecond) // let the follower reach the end of the (empty) log
	f, _ := os.OpenFile(klog, os.O_APPEND|os.O_WRONLY, 0)
	for i, p := range ports {
		fmt.Fprintln(f, logline.Render(logline.DefaultTemplate, logline.Fields{Date: time.Now(), Client: netip.MustParseAddr("192.0.2.7"), Remote: netip.MustParseAddr("192.0.2.1"), ClientPort: uint16(40000 + i), RemotePort: p}))
	}
	f.Close()
	waitFor(t, "the open command", func() bool { return exists(flag) })

	var body []byte
	waitFor(t, "a scrape with the grant", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return strings.Contains(string(body), "knockdaemon_firewall_change_seconds_count 1")
	})
	for _, want := range []string{
		`knockdaemon_knocks_accepted_total{protocol="legacy",user=""} 1`,
		`knockdaemon_knocks_rejected_total{protocol="legacy",reason="auth",user=""} 0`,
		"knockdaemon_grants_open 1",
		"knockdaemon_hits_total 8",
		"knockdaemon_span_packets_pending_total 7",
		"knockdaemon_capture_overruns_total 0",
		`knockdaemon_source_events_total{event="lines_matched"} 8`,
		"go_build_info{",
		"process_resident_memory_bytes ",
		"go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the scrape lacks %q", want)
		}
	}
	if strings.Contains(string(body), `event="hits"`) {
		t.Error(`the source's hits are served twice: as knockdaemon_hits_total and event="hits"`)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s\nthe scrape:\n%s", err, out, body)
	}
}
