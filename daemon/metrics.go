package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portknock/knock/source"
)

// newRegistry is the registry the metrics endpoint serves: the engine's
// metrics, the source's counts, and the build, process and Go runtime
// metrics every Prometheus exporter is expected to have.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewBuildInfoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	return reg
}

// sourceCollector turns the running source's own counts into counters
// at each scrape. The source's "hits" are left out: the engine counts
// the same hits as knockdaemon_hits_total, and a second series of one
// count would only be summed by mistake. Overruns get their own name,
// for an alert to find.
type sourceCollector struct{ counts func() map[string]uint64 }

var (
	sourceEventsDesc = prometheus.NewDesc("knockdaemon_source_events_total",
		"What the knock source counted: packets or lines seen, parsed, malformed, read errors, rotations. Restarts from zero when a reload replaces the source.",
		[]string{"event"}, nil)
	overrunsDesc = prometheus.NewDesc("knockdaemon_capture_overruns_total",
		"Packets the kernel dropped because the capture (nflog or afpacket) did not read them fast enough: a flood, or a daemon starved of CPU.",
		nil, nil)
)

func (c sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sourceEventsDesc
	ch <- overrunsDesc
}

func (c sourceCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.counts()
	ch <- prometheus.MustNewConstMetric(overrunsDesc, prometheus.CounterValue, float64(counts["overruns"]))
	for event, n := range counts {
		if event == "hits" || event == "overruns" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(sourceEventsDesc, prometheus.CounterValue, float64(n), event)
	}
}

// sourceCounters reads the running source's own counts.
func (d *Daemon) sourceCounters() map[string]uint64 {
	d.mu.Lock()
	src := d.src
	d.mu.Unlock()
	if c, ok := src.(source.Counters); ok {
		return c.Counters()
	}
	return nil
}

// captureEvery is how often the capture's overruns are looked at, to
// tell the operator in one line that packets were lost.
const captureEvery = 10 * time.Second

// watchCapture logs the packets the capture lost, once per captureEvery
// at most, until ctx ends.
func (d *Daemon) watchCapture(ctx context.Context) {
	t := time.NewTicker(captureEvery)
	defer t.Stop()
	last := d.sourceCounters()["overruns"]
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			last = d.checkCapture(last, captureEvery)
		}
	}
}

// checkCapture logs the overruns counted since last (an earlier reading,
// every seconds ago) and returns the count now. A count that went down
// belongs to a source a reload replaced.
func (d *Daemon) checkCapture(last uint64, every time.Duration) uint64 {
	now := d.sourceCounters()["overruns"]
	if now < last {
		last = 0
	}
	if n := now - last; n > 0 {
		d.log.Warn(fmt.Sprintf("the capture lost %d packets in the last %s: the daemon did not read them fast enough", n, every),
			"hint", "a flood, or a daemon starved of CPU; knocks among them are lost and must be sent again")
	}
	return now
}

func (d *Daemon) serveMetrics(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return d.set.Errorf("metrics", "%v", err)
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		d.log.Warn("metrics are served on a non-loopback address", "addr", ln.Addr())
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	go func() { <-ctx.Done(); srv.Close() }()
	d.log.Info("metrics served", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}
