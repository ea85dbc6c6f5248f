package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/portknock/knock/bench/internal/flood"
	"github.com/portknock/knock/bench/internal/stats"
)

// advHeader is the span port whose byte is a valid sealed header
// (version 1, IPv6 address: a 32-byte message): a source repeating it
// makes every way of skipping packets in a 32-port window pass the
// daemon's first look (the hardening issue's audit).
const advHeader = 40000 + 0x12

// advLegit is the number of legitimate knocks per lane during each step.
const advLegit = 3

// runAdversarial is the adversarial scenario: one unspoofed source sends
// the worst sequence to the span at each -adv-rates while real knocks
// (over the span and single-packet) are sent from other addresses; per
// rate: their knock-to-open time, and our daemon's CPU per attack packet.
func (h *harness) runAdversarial(ctx context.Context) error {
	res := &advResult{stamp: h.begin(fmt.Sprintf("-adversarial -adv-rates %s -adv-duration %s", joinInts(h.opt.advRates), h.opt.advDur)), Duration: h.opt.advDur}
	h.res.Adversarial = res
	o, err := newOurs(h, oursNflog)
	if err != nil {
		return err
	}
	d := o.daemon()
	if err := d.start(ctx, h); err != nil {
		return err
	}
	defer d.stop()
	for _, rate := range h.opt.advRates {
		if ctx.Err() != nil {
			break
		}
		st, err := h.advStep(ctx, d, rate)
		if err != nil {
			return err
		}
		res.Steps = append(res.Steps, st)
		h.logf("adversarial %d/s: sent %d, CPU %.2f µs per attack packet, legit opened %d/%d, median %s, slowest %s",
			rate, st.Sent, st.CPUPerPacket, st.Opened, len(st.Legit), st.Median, st.Max)
		h.save()
	}
	res.end()
	return ctx.Err()
}

func (h *harness) advStep(ctx context.Context, d *daemon, rate int) (*advStep, error) {
	st := &advStep{Rate: rate, Attacker: h.topo.addr().String()}
	before := d.usage()
	m0, err := d.metrics()
	if err != nil {
		return nil, err
	}
	var raw *flood.Raw
	if err := h.topo.client.Do(func() (err error) { raw, err = flood.OpenRaw(hostIP); return err }); err != nil {
		return nil, err
	}
	defer raw.Close()
	cfg := flood.Config{From: netip.MustParseAddr(st.Attacker), Dst: hostIP, Ports: []uint16{advHeader}, Rate: float64(rate), Duration: h.opt.advDur, Seed: uint64(rate)}
	done := make(chan struct{})
	var fst flood.Stats
	var ferr error
	go func() {
		defer close(done)
		fst, ferr = flood.Run(ctx, cfg, raw, flood.SystemClock{})
	}()
	// Knock once the flood has filled the attacker's queue and spent its
	// budget, spread over the rest of it.
	start := time.Now()
	var lat []time.Duration
	for i := 0; i < advLegit && ctx.Err() == nil; i++ {
		at := time.Second + time.Duration(i)*(h.opt.advDur-3*time.Second)/advLegit
		select {
		case <-time.After(time.Until(start.Add(at))):
		case <-ctx.Done():
		}
		for _, l := range d.lanes {
			r := h.attempt(l, 5*time.Second)
			st.Legit = append(st.Legit, r)
			if r.Opened {
				st.Opened++
				lat = append(lat, r.Latency)
			}
		}
	}
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
	st.Sent, st.Elapsed = fst.Sent, fst.Elapsed
	st.CPU = after.CPU() - before.CPU()
	if fst.Sent > 0 {
		st.CPUPerPacket = st.CPU.Seconds() * 1e6 / float64(fst.Sent)
	}
	s := stats.Summarize(lat)
	st.Median, st.Max = s.Median, s.Max
	st.Counters = delta(m0, m1)
	return st, nil
}

// The adversarial scenario's results.
type advResult struct {
	stamp
	Duration time.Duration `json:"duration_ns"`
	Steps    []*advStep    `json:"steps"`
}

type advStep struct {
	Rate         int                `json:"rate"`
	Attacker     string             `json:"attacker"`
	Sent         uint64             `json:"sent"`
	Elapsed      time.Duration      `json:"elapsed_ns"`
	CPU          time.Duration      `json:"cpu_ns"`
	CPUPerPacket float64            `json:"cpu_us_per_attack_packet"`
	Legit        []result           `json:"legit"`
	Opened       int                `json:"legit_opened"`
	Median       time.Duration      `json:"legit_median_ns"`
	Max          time.Duration      `json:"legit_max_ns"`
	Counters     map[string]float64 `json:"counters,omitempty"`
}

func reportAdversarial(w writer, a *advResult) {
	w("## One source sending the worst sequence\n\n")
	w("`-adversarial`: our daemon (nflog) while one unspoofed address sends, for %s at\n", a.Duration)
	w("each rate, SYNs to the one span port whose byte is a valid sealed header\n")
	w("(every way of skipping packets in a 32-port window then passes the first look),\n")
	w("and %d real knocks per lane (over the span, and single-packet) come from other\n", advLegit)
	w("addresses, each given 5 s. CPU is the daemon's over the step (and until it\n")
	w("settles), divided by the attack packets sent.\n\n")
	w("Command: `%s`; %s.\n\n", a.Command, loadText(a.stamp))
	w("| rate asked | sent | CPU | CPU µs per attack packet | legit opened | median | slowest | sources throttled |\n")
	w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range a.Steps {
		w("| %d/s | %d | %s | %.2f | %d/%d | %s | %s | %.0f |\n", s.Rate, s.Sent, dur(s.CPU), s.CPUPerPacket, s.Opened, len(s.Legit), dur(s.Median), dur(s.Max),
			s.Counters["knockdaemon_sources_throttled_total"])
	}
	w("\n")
}
