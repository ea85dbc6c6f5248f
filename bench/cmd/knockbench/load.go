package main

import (
	"context"
	"fmt"
	"time"

	"github.com/portknock/knock/bench/internal/flood"
	"github.com/portknock/knock/bench/internal/stats"
)

// loadLegit is the number of legitimate knocks during each step, and
// quietKnocks the number of knocks, one at a time, before any flood.
const (
	loadLegit   = 3
	quietKnocks = 100
)

// quietStep knocks n times on lane l, one at a time, with nothing else
// going on, and divides the daemon's CPU by the knocks.
func (h *harness) quietStep(l *lane, n int) *quietStep {
	q := &quietStep{Lane: l.id, Knocks: n}
	before := l.d.usage()
	var lat []time.Duration
	for i := 0; i < n; i++ {
		if r := h.attempt(l, 2*time.Second); r.Opened {
			q.Opened++
			lat = append(lat, r.Latency)
		}
	}
	q.CPU = l.d.usage().CPU() - before.CPU()
	q.PerKnock = q.CPU / time.Duration(n)
	q.Median = stats.Summarize(lat).Median
	return q
}

// runLoad is the daemon-load ramp: our daemon alone (each capture in
// turn), one process through every step, a flood at each rate for the
// step's length, and what it handled: packets seen per second, CPU,
// memory, and whether legitimate knocks still open within a second.
func (h *harness) runLoad(ctx context.Context) error {
	res := &loadResult{stamp: h.begin(fmt.Sprintf("-load -load-rates %s -load-duration %s -load-prefix %s", joinInts(h.opt.loadRates), h.opt.loadDur, h.opt.loadPrefix)),
		Step: h.opt.loadDur, Prefix: h.opt.loadPrefix.String()}
	h.res.Load = res
	for i, cfg := range []oursConfig{oursNflog, oursAFPacket} {
		if ctx.Err() != nil {
			break
		}
		if i > 0 {
			h.closeTopo()
			if err := h.openTopo(); err != nil {
				return err
			}
		}
		s := &loadSeries{ID: cfg.id, Label: cfg.label}
		res.Series = append(res.Series, s)
		if err := h.loadSeries(ctx, cfg, s); err != nil {
			s.Err = err.Error()
			h.logf("load: %s: %v", cfg.label, firstLine(err))
		}
		h.save()
	}
	res.end()
	return ctx.Err()
}

func (h *harness) loadSeries(ctx context.Context, cfg oursConfig, s *loadSeries) error {
	o, err := newOurs(h, cfg)
	if err != nil {
		return err
	}
	d := o.daemon()
	h.logf("load: starting %s", d.label)
	if err := d.start(ctx, h); err != nil {
		return err
	}
	defer d.stop()
	for _, l := range d.lanes {
		q := h.quietStep(l, quietKnocks)
		s.Quiet = append(s.Quiet, q)
		h.logf("load: %s, no flood: %d knocks, %s of CPU each, median %s", l.id, q.Knocks, q.PerKnock, q.Median)
	}
	for _, rate := range h.opt.loadRates {
		if ctx.Err() != nil || !d.proc.alive() {
			break
		}
		st, err := h.loadStep(ctx, d, rate)
		if err != nil {
			return err
		}
		s.Steps = append(s.Steps, st)
		h.logf("load: %s at %d/s: sent %.0f/s, seen %.0f/s, CPU %.0f%% of a core, %.2f µs a packet, RSS %d KiB, legit %d/%d",
			d.label, rate, st.Achieved, st.SeenPerSec, 100*st.CPUShare, st.CPUPerMpkt, st.RSS, st.Opened, st.Legit)
	}
	if !d.proc.alive() {
		return fmt.Errorf("%s died: %s", d.label, d.proc.logTail(3))
	}
	return nil
}

func (h *harness) loadStep(ctx context.Context, d *daemon, rate int) (*loadStep, error) {
	st := &loadStep{Rate: rate, Legit: loadLegit}
	before := d.usage()
	m0, err := d.metrics()
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var fst flood.Stats
	var ferr error
	go func() {
		defer close(done)
		fst, ferr = h.flood(ctx, h.opt.loadPrefix, floodPorts("span"), rate, h.opt.loadDur, uint64(rate)+7)
	}()
	legit := h.legitDuring(ctx, []*daemon{d}, h.opt.loadDur, loadLegit)
	<-done
	if ferr != nil {
		return nil, ferr
	}
	h.settle([]*daemon{d})
	after := d.usage()
	m1, err := d.metrics()
	if err != nil {
		return nil, err
	}
	st.Sent, st.Achieved = fst.Sent, fst.Rate()
	st.Seen = m1["knockdaemon_hits_total"] - m0["knockdaemon_hits_total"]
	st.SeenPerSec = st.Seen / fst.Elapsed.Seconds()
	st.CPU = after.CPU() - before.CPU()
	st.CPUShare = st.CPU.Seconds() / fst.Elapsed.Seconds()
	if fst.Sent > 0 {
		st.CPUPerMpkt = st.CPU.Seconds() / float64(fst.Sent) * 1e6
	}
	st.RSS, st.HWM = after.VmRSS, after.VmHWM
	for _, r := range legit[d] {
		if r.Opened {
			st.Opened++
		}
	}
	st.Counters = delta(m0, m1)
	return st, nil
}
