package daemon_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/internal/testenv"
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
	conf, klog, flag := fileConf(t.TempDir(), "metrics = 127.0.0.1:0\n")
	set := loadConf(t, conf)
	logs := &syncBuffer{}
	d, err := daemon.New(set, daemon.Options{Log: slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), nil))})
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	urlRE := regexp.MustCompile(`url=(http://\S+/metrics)`)
	waitFor(t, "the metrics endpoint", func() bool { return urlRE.MatchString(logs.String()) })
	url := urlRE.FindStringSubmatch(logs.String())[1]

	writeKnock(t, klog, false)
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
