package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/portknock/knock/bench/internal/flood"
	"github.com/portknock/knock/bench/internal/proc"
	"github.com/portknock/knock/bench/internal/stats"
)

// The -ebpf scenario: the spoofed SYN flood over the whole span, one
// lane at a time (each alone in fresh namespaces, so that the machine's
// softirq time during its flood is its own): no daemon at all (the
// kernel's cost of the flood itself), knockdaemon with capture = ebpf,
// afpacket and nflog, and knockd.
type ebpfResult struct {
	stamp
	UptimeBefore string         `json:"uptime_before"`
	UptimeAfter  string         `json:"uptime_after"`
	Prefix       string         `json:"prefix"`
	Duration     time.Duration  `json:"duration_ns"`
	Legit        int            `json:"legit_per_lane"`
	Runs         []*ebpfRun     `json:"runs"`
	Long         []*ebpfLongRun `json:"long,omitempty"`
}

type ebpfRun struct {
	Rate     int           `json:"rate"`
	Lane     string        `json:"lane"` // none, ours-ebpf, ours-afpacket, ours-nflog, knockd
	Label    string        `json:"label"`
	Sent     uint64        `json:"sent"`
	Achieved float64       `json:"achieved_per_s"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	// The daemon process: CPU over the flood and until it settles.
	CPU       time.Duration `json:"cpu_ns"`
	CPUPerPkt float64       `json:"cpu_us_per_pkt"`
	RSSStart  uint64        `json:"rss_start_kib"`
	RSSEnd    uint64        `json:"rss_end_kib"`
	HWM       uint64        `json:"hwm_kib"`
	Opened    int           `json:"opened"`
	Legit     int           `json:"legit"`
	Alive     bool          `json:"alive"`
	Err       string        `json:"error,omitempty"`
	Spoofed   int           `json:"spoofed_granted"`
	Seen      float64       `json:"seen"` // knockdaemon_hits_total delta, where it has metrics
	// The whole machine during the flood (from its first to its last
	// packet): softirq, the flood generator (this harness's process), and
	// everything else busy (other users of the machine).
	SoftIRQ      time.Duration      `json:"softirq_ns"`
	SoftIRQPerPk float64            `json:"softirq_us_per_pkt"`
	Generator    time.Duration      `json:"generator_ns"`
	Busy         time.Duration      `json:"machine_busy_ns"`
	Others       time.Duration      `json:"others_ns"` // busy - softirq - generator - daemon
	Counters     map[string]float64 `json:"counters,omitempty"`
	// Knock to open on a quiet link, before the flood (-ebpf-knocks).
	Latency stats.Summary `json:"latency"`
}

// ebpfLongRun is the long flood: RSS every few seconds.
type ebpfLongRun struct {
	Lane     string             `json:"lane"`
	Label    string             `json:"label"`
	Count    int                `json:"count"`
	Rate     int                `json:"rate"`
	Sent     uint64             `json:"sent"`
	Achieved float64            `json:"achieved_per_s"`
	Elapsed  time.Duration      `json:"elapsed_ns"`
	Samples  []ebpfRSSSample    `json:"samples"`
	MaxRSS   uint64             `json:"max_rss_kib"`
	HWM      uint64             `json:"hwm_kib"`
	Opened   int                `json:"opened"`
	Legit    int                `json:"legit"`
	CPU      time.Duration      `json:"cpu_ns"`
	Err      string             `json:"error,omitempty"`
	Counters map[string]float64 `json:"counters,omitempty"`
}

type ebpfRSSSample struct {
	At   time.Duration `json:"at_ns"`
	RSS  uint64        `json:"rss_kib"`
	Seen float64       `json:"seen"`
}

// ebpfLaneIDs are the lanes of -ebpf, in their default order.
var ebpfLaneIDs = []string{"none", oursEBPF.id, oursAFPacket.id, oursNflog.id, "knockd"}

// ebpfLaneList parses -ebpf-lanes.
func ebpfLaneList(s string) ([]string, error) {
	var ids []string
	for _, id := range strings.Split(s, ",") {
		id = strings.TrimSpace(id)
		if !slices.Contains(ebpfLaneIDs, id) {
			return nil, fmt.Errorf("lane %q: want some of %s", id, strings.Join(ebpfLaneIDs, ", "))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// ebpfLanes are the lanes of -ebpf asked for; a nil daemon is the flood
// alone.
func (h *harness) ebpfLanes() []func() (*daemon, error) {
	ours := func(cfg oursConfig) func() (*daemon, error) {
		return func() (*daemon, error) {
			o, err := newOurs(h, cfg)
			if err != nil {
				return nil, err
			}
			return o.daemon(), nil
		}
	}
	all := map[string]func() (*daemon, error){
		"none":          func() (*daemon, error) { return nil, nil },
		oursEBPF.id:     ours(oursEBPF),
		oursAFPacket.id: ours(oursAFPacket),
		oursNflog.id:    ours(oursNflog),
		"knockd":        func() (*daemon, error) { return knockdDaemon(h), nil },
	}
	var lanes []func() (*daemon, error)
	for _, id := range h.opt.ebpfLanes {
		lanes = append(lanes, all[id])
	}
	return lanes
}

func (h *harness) runEBPF(ctx context.Context) error {
	res := &ebpfResult{stamp: h.begin(fmt.Sprintf("-ebpf -ebpf-rates %s -ebpf-repeat %d -ebpf-lanes %s -ebpf-knocks %d -flood-duration %s -legit %d", joinInts(h.opt.ebpfRates), h.opt.ebpfRepeat, strings.Join(h.opt.ebpfLanes, ","), h.opt.ebpfKnocks, h.opt.floodDur, h.opt.legit)),
		UptimeBefore: uptime(), Prefix: h.opt.prefix.String(), Duration: h.opt.floodDur, Legit: h.opt.legit}
	h.res.EBPF = res
	defer func() { res.UptimeAfter = uptime(); res.end(); h.writeEBPF() }()
	first := true
	for rep := 0; rep < h.opt.ebpfRepeat; rep++ {
		for _, rate := range h.opt.ebpfRates {
			for _, mk := range h.ebpfLanes() {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !first {
					h.closeTopo()
					if err := h.openTopo(); err != nil {
						return err
					}
				}
				first = false
				d, err := mk()
				if err != nil {
					return err
				}
				run := h.ebpfRun(ctx, d, rate)
				res.Runs = append(res.Runs, run)
				h.logf("ebpf %d/s %s: latency median %s p99 %s; sent %.0f/s, daemon %.2f µs/pkt, softirq %.2f µs/pkt (%s), generator %s, others %s, legit %d/%d, RSS %d→%d KiB %s",
					rate, run.Lane, run.Latency.Median, run.Latency.P99, run.Achieved, run.CPUPerPkt, run.SoftIRQPerPk, run.SoftIRQ, run.Generator, run.Others, run.Opened, run.Legit, run.RSSStart, run.RSSEnd, run.Err)
				h.save()
			}
		}
	}
	return nil
}

func (h *harness) ebpfRun(ctx context.Context, d *daemon, rate int) *ebpfRun {
	run := &ebpfRun{Rate: rate, Lane: "none", Label: "no daemon (the flood alone)"}
	var live []*daemon
	if d != nil {
		run.Lane, run.Label = d.id, d.label
		defer d.stop()
		if err := d.start(ctx, h); err != nil {
			run.Err = firstLine(err)
			return run
		}
		live = []*daemon{d}
		run.Latency = h.quietLatency(d)
	}
	var before proc.Sample
	var m0 map[string]float64
	if d != nil {
		before = d.usage()
		if d.metrics != nil {
			m0, _ = d.metrics()
		}
	}
	self0, _ := proc.Read(os.Getpid())
	sys0, _ := proc.ReadSystem()
	done := make(chan struct{})
	var fst fstats
	go func() {
		defer close(done)
		fst.st, fst.err = h.flood(ctx, h.opt.prefix, floodPorts("span"), rate, h.opt.floodDur, uint64(rate)+11)
	}()
	var legit map[*daemon][]result
	if d != nil {
		legit = h.legitDuring(ctx, live, h.opt.floodDur, h.opt.legit)
	}
	<-done
	sys1, _ := proc.ReadSystem()
	self1, _ := proc.Read(os.Getpid())
	if fst.err != nil {
		run.Err = firstLine(fst.err)
	}
	run.Sent, run.Achieved, run.Elapsed = fst.st.Sent, fst.st.Rate(), fst.st.Elapsed
	run.SoftIRQ = proc.Ticks(sys1.SoftIRQ - sys0.SoftIRQ)
	run.Busy = proc.Ticks(sys1.Busy() - sys0.Busy())
	run.Generator = self1.Stat.Own() - self0.Stat.Own()
	if run.Sent > 0 {
		run.SoftIRQPerPk = run.SoftIRQ.Seconds() / float64(run.Sent) * 1e6
	}
	var daemonDuring time.Duration
	if d != nil {
		daemonDuring = d.usage().CPU() - before.CPU()
		h.settle(live)
		run.Alive = d.proc.alive()
		after := d.usage()
		run.CPU = after.CPU() - before.CPU()
		if run.Sent > 0 {
			run.CPUPerPkt = run.CPU.Seconds() / float64(run.Sent) * 1e6
		}
		run.RSSStart, run.RSSEnd, run.HWM = before.VmRSS, after.VmRSS, after.VmHWM
		for _, r := range legit[d] {
			run.Legit++
			if r.Opened {
				run.Opened++
			}
		}
		if g, err := d.grants(); err == nil {
			for _, a := range g {
				if h.opt.prefix.Contains(a) {
					run.Spoofed++
				}
			}
		}
		if d.metrics != nil && m0 != nil {
			if m1, err := d.metrics(); err == nil {
				run.Counters = delta(m0, m1)
				run.Seen = run.Counters["knockdaemon_hits_total"]
			}
		}
	}
	run.Others = run.Busy - run.SoftIRQ - run.Generator - daemonDuring
	return run
}

// quietLatency knocks -ebpf-knocks times on the daemon's first lane, one
// knock at a time, with no flood, and describes the knock-to-open times.
func (h *harness) quietLatency(d *daemon) stats.Summary {
	var samples []time.Duration
	for range h.opt.ebpfKnocks {
		if r := h.attempt(d.lanes[0], latencyWithin); r.Opened {
			samples = append(samples, r.Latency)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return stats.Summarize(samples)
}

type fstats struct {
	st  flood.Stats
	err error
}

// runEBPFLong is the long flood: -long-count packets from -long-prefix
// to knockdaemon (ebpf, then afpacket), RSS every 5 s.
func (h *harness) runEBPFLong(ctx context.Context) error {
	if h.res.EBPF == nil {
		h.res.EBPF = &ebpfResult{stamp: h.begin("-ebpf-long"), UptimeBefore: uptime()}
	}
	res := h.res.EBPF
	res.Command += fmt.Sprintf(" -ebpf-long -long-count %d -long-rate %d -long-prefix %s", h.opt.longCount, h.opt.longRate, h.opt.longPrefix)
	defer func() { res.UptimeAfter = uptime(); res.end(); h.writeEBPF() }()
	first := true
	for _, cfg := range []oursConfig{oursEBPF, oursAFPacket} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !slices.Contains(h.opt.ebpfLanes, cfg.id) {
			continue
		}
		if !first {
			h.closeTopo()
			if err := h.openTopo(); err != nil {
				return err
			}
		}
		first = false
		o, err := newOurs(h, cfg)
		if err != nil {
			return err
		}
		lr := h.ebpfLong(ctx, o.daemon())
		res.Long = append(res.Long, lr)
		h.logf("long %s: sent %d at %.0f/s in %s, max RSS %d KiB, HWM %d KiB, legit %d/%d %s", lr.Lane, lr.Sent, lr.Achieved, lr.Elapsed, lr.MaxRSS, lr.HWM, lr.Opened, lr.Legit, lr.Err)
		h.save()
	}
	return nil
}

func (h *harness) ebpfLong(ctx context.Context, d *daemon) *ebpfLongRun {
	lr := &ebpfLongRun{Lane: d.id, Label: d.label, Count: h.opt.longCount, Rate: h.opt.longRate}
	defer d.stop()
	if err := d.start(ctx, h); err != nil {
		lr.Err = firstLine(err)
		return lr
	}
	before := d.usage()
	m0, _ := d.metrics()
	start := time.Now()
	lr.Samples = append(lr.Samples, ebpfRSSSample{At: 0, RSS: before.VmRSS})
	dur := time.Duration(float64(h.opt.longCount)/float64(h.opt.longRate)*1.5*float64(time.Second)) + 30*time.Second
	dur = min(dur, 10*time.Minute)
	done := make(chan struct{})
	var fst fstats
	go func() {
		defer close(done)
		fst.st, fst.err = h.floodCount(ctx, h.opt.longPrefix, floodPorts("span"), h.opt.longRate, dur, 77, h.opt.longCount)
	}()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s := ebpfRSSSample{At: time.Since(start), RSS: d.usage().VmRSS}
				if m, err := d.metrics(); err == nil {
					s.Seen = m["knockdaemon_hits_total"] - m0["knockdaemon_hits_total"]
				}
				lr.Samples = append(lr.Samples, s)
			}
		}
	}()
	legit := h.legitDuring(ctx, []*daemon{d}, min(dur, time.Duration(float64(h.opt.longCount)/float64(h.opt.longRate)*float64(time.Second))), 5)
	<-done
	<-sampled
	h.settle([]*daemon{d})
	after := d.usage()
	lr.Samples = append(lr.Samples, ebpfRSSSample{At: time.Since(start), RSS: after.VmRSS})
	if fst.err != nil {
		lr.Err = firstLine(fst.err)
	}
	lr.Sent, lr.Achieved, lr.Elapsed = fst.st.Sent, fst.st.Rate(), fst.st.Elapsed
	lr.CPU = after.CPU() - before.CPU()
	lr.HWM = after.VmHWM
	for _, s := range lr.Samples {
		lr.MaxRSS = max(lr.MaxRSS, s.RSS)
	}
	for _, r := range legit[d] {
		lr.Legit++
		if r.Opened {
			lr.Opened++
		}
	}
	if !d.proc.alive() {
		lr.Err = "died: " + d.proc.logTail(3)
	}
	if m1, err := d.metrics(); err == nil && m0 != nil {
		lr.Counters = delta(m0, m1)
	}
	return lr
}

// writeEBPF writes ebpf.md beside results.json: the tables of -ebpf and
// -ebpf-long.
func (h *harness) writeEBPF() {
	r := h.res.EBPF
	if r == nil {
		return
	}
	text := "# Flood: eBPF, packet socket, NFLOG, knockd\n\n" + ebpfText(r)
	os.WriteFile(filepath.Join(h.opt.out, "ebpf.md"), []byte(text), 0o644)
}

// ebpfText is the body of ebpf.md, and the eBPF section of REPORT.md.
func ebpfText(r *ebpfResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nStarted %s, finished %s. Load %.2f %.2f %.2f before, %.2f %.2f %.2f after.\n\n",
		r.Command, r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339), r.LoadBefore[0], r.LoadBefore[1], r.LoadBefore[2], r.LoadAfter[0], r.LoadAfter[1], r.LoadAfter[2])
	fmt.Fprintf(&b, "uptime before: `%s`\n\nuptime after: `%s`\n\n", r.UptimeBefore, r.UptimeAfter)
	if len(r.Runs) > 0 {
		fmt.Fprintf(&b, "Spoofed SYNs from %s over the 256 ports of the span, %s per lane, each lane alone in fresh namespaces.\n\n", r.Prefix, r.Duration)
		b.WriteString("| rate | lane | sent/s | daemon µs/pkt | softirq µs/pkt | softirq − no-daemon µs/pkt | machine busy µs/pkt | busy − no-daemon µs/pkt | generator CPU | others busy | knocks open ≤1 s | quiet knock to open, median / p99 | RSS before → after (KiB) | seen | spoofed granted | error |\n")
		b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		type pair struct{ soft, busy float64 }
		base := map[int]pair{} // the no-daemon run of the same round
		for _, run := range r.Runs {
			soft, busy, lat := "–", "–", "–"
			if run.Lane == "none" {
				base[run.Rate] = pair{run.SoftIRQPerPk, run.busyPerPkt()}
			} else if p, ok := base[run.Rate]; ok {
				soft = fmt.Sprintf("%.2f", run.SoftIRQPerPk-p.soft)
				busy = fmt.Sprintf("%.2f", run.busyPerPkt()-p.busy)
			}
			if run.Latency.N > 0 {
				lat = fmt.Sprintf("%s / %s", us(run.Latency.Median), us(run.Latency.P99))
			}
			fmt.Fprintf(&b, "| %d | %s | %.0f | %.2f | %.2f | %s | %.2f | %s | %.2f s | %.2f s | %d/%d | %s | %d → %d | %.0f | %d | %s |\n",
				run.Rate, run.Label, run.Achieved, run.CPUPerPkt, run.SoftIRQPerPk, soft, run.busyPerPkt(), busy, run.Generator.Seconds(), run.Others.Seconds(), run.Opened, run.Legit, lat, run.RSSStart, run.RSSEnd, run.Seen, run.Spoofed, run.Err)
		}
		b.WriteString("\n")
		ebpfSummary(&b, r.Runs)
	}
	for _, l := range r.Long {
		fmt.Fprintf(&b, "### Long flood: %s\n\n%d packets asked at %d/s, %d sent at %.0f/s in %s; daemon CPU %s; max RSS %d KiB (%.1f MiB), HWM %d KiB; knocks open ≤1 s %d/%d %s\n\n| t (s) | RSS (KiB) | hits seen |\n| ---: | ---: | ---: |\n",
			l.Label, l.Count, l.Rate, l.Sent, l.Achieved, l.Elapsed.Round(time.Second), l.CPU, l.MaxRSS, float64(l.MaxRSS)/1024, l.HWM, l.Opened, l.Legit, l.Err)
		for _, s := range l.Samples {
			fmt.Fprintf(&b, "| %.0f | %d | %.0f |\n", s.At.Seconds(), s.RSS, s.Seen)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// busyPerPkt is the whole machine's busy time per packet sent.
func (r *ebpfRun) busyPerPkt() float64 {
	if r.Sent == 0 {
		return 0
	}
	return r.Busy.Seconds() / float64(r.Sent) * 1e6
}

// us formats a duration in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1e3) }

// ebpfSummary is the mean of each lane's runs at each rate.
func ebpfSummary(b *strings.Builder, runs []*ebpfRun) {
	type key struct {
		rate int
		lane string
	}
	type sum struct {
		label                                 string
		n, opened, legit                      int
		achieved, cpu, soft, busy, rssA, rssB float64
		lat                                   []time.Duration
	}
	var order []key
	sums := map[key]*sum{}
	for _, r := range runs {
		k := key{r.Rate, r.Lane}
		s := sums[k]
		if s == nil {
			s = &sum{label: r.Label}
			sums[k] = s
			order = append(order, k)
		}
		s.n++
		s.opened += r.Opened
		s.legit += r.Legit
		s.achieved += r.Achieved
		s.cpu += r.CPUPerPkt
		s.soft += r.SoftIRQPerPk
		s.busy += r.busyPerPkt()
		if r.Latency.N > 0 {
			s.lat = append(s.lat, r.Latency.Median)
		}
		s.rssA += float64(r.RSSStart)
		s.rssB += float64(r.RSSEnd)
	}
	b.WriteString("Means over the repeats (knock to open: the medians of the runs):\n\n| rate | lane | runs | sent/s | daemon µs/pkt | softirq µs/pkt | softirq − no-daemon µs/pkt | busy − no-daemon µs/pkt | knocks open ≤1 s | quiet knock to open, median | RSS before → after (MiB) |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, k := range order {
		s := sums[k]
		n := float64(s.n)
		base := sums[key{k.rate, "none"}]
		soft, busy := "–", "–"
		if k.lane != "none" && base != nil {
			soft = fmt.Sprintf("%.2f", s.soft/n-base.soft/float64(base.n))
			busy = fmt.Sprintf("%.2f", s.busy/n-base.busy/float64(base.n))
		}
		lat := "–"
		if len(s.lat) > 0 {
			var parts []string
			for _, l := range s.lat {
				parts = append(parts, us(l))
			}
			lat = strings.Join(parts, ", ")
		}
		fmt.Fprintf(b, "| %d | %s | %d | %.0f | %.2f | %.2f | %s | %s | %d/%d | %s | %.1f → %.1f |\n", k.rate, s.label, s.n, s.achieved/n, s.cpu/n, s.soft/n, soft, busy, s.opened, s.legit, lat, s.rssA/n/1024, s.rssB/n/1024)
	}
	b.WriteString("\n")
}
