package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/source"
)

// JSON logs give durations in seconds, a number a log pipeline can read.
func TestJSONDurationsInSeconds(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(LogConfig{Format: "json"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("grant opened", "duration", 90*time.Second, slog.Group("g", "timeout", 1500*time.Millisecond))
	var line struct {
		Duration float64            `json:"duration"`
		G        map[string]float64 `json:"g"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if line.Duration != 90 || line.G["timeout"] != 1.5 {
		t.Fatalf("durations %v and %v, want 90 and 1.5 seconds: %s", line.Duration, line.G["timeout"], buf.Bytes())
	}
}

type countingSource struct{ c map[string]uint64 }

func (s *countingSource) Run(ctx context.Context, _ chan<- source.Hit) error {
	<-ctx.Done()
	return nil
}
func (s *countingSource) Counters() map[string]uint64 { return s.c }

// Packets the capture lost are one warning that says how many.
func TestCaptureLossLogged(t *testing.T) {
	var buf bytes.Buffer
	src := &countingSource{c: map[string]uint64{"overruns": 0}}
	d := &Daemon{src: src, log: slog.New(slog.NewTextHandler(&buf, nil))}
	last := d.checkCapture(0, captureEvery)
	if buf.Len() != 0 {
		t.Fatalf("a warning with nothing lost: %s", buf.String())
	}
	src.c["overruns"] = 1200
	last = d.checkCapture(last, captureEvery)
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "the capture lost 1200 packets in the last 10s") {
		t.Fatalf("want a warning of 1200 packets lost, got %q", buf.String())
	}
	buf.Reset()
	// A reload replaced the source: its count starts again.
	src.c["overruns"] = 5
	if d.checkCapture(last, captureEvery); !strings.Contains(buf.String(), "the capture lost 5 packets") {
		t.Fatalf("after a reload: %q", buf.String())
	}
}
