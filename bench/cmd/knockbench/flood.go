package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/portknock/knock/bench/internal/flood"
	"github.com/portknock/knock/bench/internal/proc"
	"github.com/portknock/knock/bench/internal/scrape"
)

// floodDaemons are the daemons that share the flood: everything that
// watches the span, and fwknopd's default capture beside them.
func (h *harness) floodDaemons() ([]*daemon, error) {
	var ds []*daemon
	for _, cfg := range []oursConfig{oursNflog, oursAFPacket} {
		o, err := newOurs(h, cfg)
		if err != nil {
			return nil, err
		}
		ds = append(ds, o.daemon())
	}
	ds = append(ds, knockdDaemon(h), oursKnockdDaemon(h), fwknopDaemon(h, fwknopPcap, h.fwknopKeys()))
	return ds, nil
}

// floodPorts are the destination ports of a flood target: the whole span,
// or only knockd's sequence (which lies inside the span, so it is a flood
// of our span too, concentrated where knockd listens).
func floodPorts(target string) []uint16 {
	if target == "sequence" {
		return knockdSequence
	}
	ports := make([]uint16, 0, spanHi-spanLo+1)
	for p := spanLo; p <= spanHi; p++ {
		ports = append(ports, uint16(p))
	}
	return ports
}

// runFlood is scenario 1: for each target and rate, fresh namespaces and
// daemons, a flood of spoofed SYNs for the flood's duration, and
// legitimate knocks on every daemon during it.
func (h *harness) runFlood(ctx context.Context) error {
	res := &floodResult{stamp: h.begin(fmt.Sprintf("-flood -targets %s -rates %s -flood-duration %s -legit %d", strings.Join(h.opt.targets, ","), joinInts(h.opt.rates), h.opt.floodDur, h.opt.legit)),
		Prefix: h.opt.prefix.String(), Duration: h.opt.floodDur, Legit: h.opt.legit}
	h.res.Flood = res
	first := true
	for _, target := range h.opt.targets {
		for _, rate := range h.opt.rates {
			if ctx.Err() != nil {
				break
			}
			if !first { // every run starts afresh: no grant, rule or process of the last one
				h.closeTopo()
				if err := h.openTopo(); err != nil {
					return err
				}
			}
			first = false
			run, err := h.floodRun(ctx, target, rate)
			if run != nil {
				res.Runs = append(res.Runs, run)
			}
			if err != nil {
				return err
			}
			h.save()
		}
	}
	res.end()
	return ctx.Err()
}

func (h *harness) floodRun(ctx context.Context, target string, rate int) (*floodRun, error) {
	ds, err := h.floodDaemons()
	if err != nil {
		return nil, err
	}
	send := func(ctx context.Context) (flood.Stats, error) {
		return h.flood(ctx, h.opt.prefix, floodPorts(target), rate, h.opt.floodDur, uint64(rate))
	}
	return h.floodWith(ctx, ds, &floodRun{Target: target, Rate: rate}, fmt.Sprintf("flood of the %s at %d/s", target, rate), send, 1)
}

// floodWith starts ds, runs send for the flood's duration while each
// daemon is knocked on -legit times, and fills run with what each did.
// A daemon's CPU is divided by the packets sent over share (the flood is
// split over share ports that each daemon sees one of, or 1), and ds are
// stopped on return.
func (h *harness) floodWith(ctx context.Context, ds []*daemon, run *floodRun, what string, send func(context.Context) (flood.Stats, error), share int) (*floodRun, error) {
	defer func() {
		for _, d := range ds {
			d.stop()
		}
	}()
	for _, d := range ds {
		h.logf("%s: starting %s", what, d.label)
		if err := d.start(ctx, h); err != nil {
			h.logf("  %v", err)
		}
	}
	live := running(ds)
	before := map[*daemon]proc.Sample{}
	counters := map[*daemon]map[string]float64{}
	for _, d := range live {
		before[d] = d.usage()
		if d.metrics != nil {
			counters[d], _ = d.metrics()
		}
	}
	link0, _ := h.hostLink()

	h.logf("%s for %s, %d legitimate knocks on each of %d daemons", what, h.opt.floodDur, h.opt.legit, len(live))
	fctx, stopFlood := context.WithCancel(ctx)
	defer stopFlood()
	floodDone := make(chan struct{})
	var fst flood.Stats
	var ferr error
	go func() {
		defer close(floodDone)
		fst, ferr = send(fctx)
	}()
	rssc := h.sampleRSS(live, floodDone)
	legit := h.legitDuring(ctx, live, h.opt.floodDur, h.opt.legit)
	<-floodDone
	rss := <-rssc
	if ferr != nil {
		return run, ferr
	}
	h.settle(live)
	link1, _ := h.hostLink()
	run.Sent, run.Failed, run.Elapsed, run.Achieved = fst.Sent, fst.Failed, fst.Elapsed, fst.Rate()
	run.HostRx, run.HostDrops = link1.RxPackets-link0.RxPackets, link1.RxDropped-link0.RxDropped
	run.Load = loadNow()
	for _, d := range ds {
		run.Daemons = append(run.Daemons, h.floodOutcome(d, before[d], counters[d], rss[d], legit[d], fst.Sent/uint64(share)))
	}
	return run, nil
}

// floodOutcome is what one daemon did during the flood.
func (h *harness) floodOutcome(d *daemon, before proc.Sample, c0 map[string]float64, rss []uint64, legit []result, sent uint64) *floodDaemon {
	fd := &floodDaemon{ID: d.id, Label: d.label, Legit: legit, RSS: rss}
	if d.err != nil {
		fd.Err = d.err.Error()
		return fd
	}
	fd.Alive = d.proc.alive()
	if !fd.Alive {
		fd.Err = fmt.Sprintf("died during the flood (%v): %s", d.proc.exitErr(), d.proc.logTail(3))
		return fd
	}
	after := d.usage()
	fd.CPU, fd.CPUOwn = after.CPU()-before.CPU(), after.Own()-before.Own()
	if sent > 0 {
		fd.CPUPerMpkt = fd.CPU.Seconds() / float64(sent) * 1e6
	}
	fd.RSSStart, fd.RSSEnd, fd.HWM = before.VmRSS, after.VmRSS, after.VmHWM
	for _, r := range legit {
		if r.Opened {
			fd.Opened++
		}
	}
	if grants, err := d.grants(); err != nil {
		fd.Err = "reading grants: " + err.Error()
	} else {
		spoofed := map[netip.Addr]bool{}
		for _, a := range grants {
			if h.opt.prefix.Contains(a) {
				spoofed[a] = true
			}
		}
		fd.Spoofed = len(spoofed)
		for a := range spoofed {
			if len(fd.SpoofedSample) < 5 {
				fd.SpoofedSample = append(fd.SpoofedSample, a.String())
			}
		}
		sort.Strings(fd.SpoofedSample)
	}
	if d.metrics != nil && c0 != nil {
		if c1, err := d.metrics(); err == nil {
			fd.Counters = delta(c0, c1)
		}
	}
	return fd
}

// delta keeps the counters that moved, as differences; gauges (sources
// tracked, grants open) are kept as they are at the end.
func delta(c0, c1 map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range c1 {
		if strings.Contains(k, "_total") {
			if d := v - c0[k]; d != 0 {
				out[k] = d
			}
		} else if v != 0 {
			out[k] = v
		}
	}
	return out
}

// floodSenders is how many senders share a flood above 50,000 packets a
// second. On a veth, the receiving side's work (the captures of every
// daemon) runs in the sender's own system calls, so one sender cannot
// keep up where two, on two cores, can.
const floodSenders = 2

// flood sends spoofed SYNs from the client namespace.
func (h *harness) flood(ctx context.Context, prefix netip.Prefix, ports []uint16, rate int, d time.Duration, seed uint64) (flood.Stats, error) {
	return h.floodCount(ctx, prefix, ports, rate, d, seed, 0)
}

// floodCount is flood, stopping after count packets (0: rate × d).
func (h *harness) floodCount(ctx context.Context, prefix netip.Prefix, ports []uint16, rate int, d time.Duration, seed uint64, count int) (flood.Stats, error) {
	n := 1
	if rate > 50000 {
		n = floodSenders
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total flood.Stats
	var errs []error
	for i := 0; i < n; i++ {
		var raw *flood.Raw
		if err := h.topo.client.Do(func() (err error) { raw, err = flood.OpenRaw(hostIP); return err }); err != nil {
			return flood.Stats{}, err
		}
		defer raw.Close()
		cfg := flood.Config{Prefix: prefix, Dst: hostIP, Ports: ports, Rate: float64(rate) / float64(n), Duration: d, Seed: seed + uint64(i)*7919, Count: count / n}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := flood.Run(ctx, cfg, raw, flood.SystemClock{})
			mu.Lock()
			defer mu.Unlock()
			total.Sent += st.Sent
			total.Failed += st.Failed
			total.Elapsed = max(total.Elapsed, st.Elapsed)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return total, errors.Join(errs...)
}

// legitDuring knocks n times on the first lane of every daemon, all
// daemons at once, spread over the flood, each knock given one second.
func (h *harness) legitDuring(ctx context.Context, ds []*daemon, d time.Duration, n int) map[*daemon][]result {
	out := map[*daemon][]result{}
	var mu sync.Mutex
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := time.Second + time.Duration(i)*(d-2*time.Second)/time.Duration(max(n-1, 1))
		if wait := time.Until(start.Add(at)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		var wg sync.WaitGroup
		for _, dm := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.attempt(dm.lanes[0], time.Second)
				mu.Lock()
				out[dm] = append(out[dm], r)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	return out
}

// sampleRSS reads each daemon's resident memory every second until done,
// and then hands over the samples.
func (h *harness) sampleRSS(ds []*daemon, done <-chan struct{}) <-chan map[*daemon][]uint64 {
	res := make(chan map[*daemon][]uint64, 1)
	go func() {
		out := map[*daemon][]uint64{}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				res <- out
				return
			case <-t.C:
				for _, d := range ds {
					out[d] = append(out[d], d.usage().VmRSS)
				}
			}
		}
	}()
	return res
}

// settle waits until no daemon uses CPU any more (less than 10 ms in half
// a second), at most 15 s: a daemon behind on its capture buffer works
// on after the flood, and that work belongs to the flood.
func (h *harness) settle(ds []*daemon) {
	deadline := time.Now().Add(15 * time.Second)
	last := map[*daemon]time.Duration{}
	for _, d := range ds {
		last[d] = d.usage().CPU()
	}
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		busy := false
		for _, d := range ds {
			c := d.usage().CPU()
			if c-last[d] >= 10*time.Millisecond {
				busy = true
			}
			last[d] = c
		}
		if !busy {
			return
		}
	}
}

// hostLink reads the host's veth counters.
func (h *harness) hostLink() (scrape.LinkStats, error) {
	out, err := h.topo.host.Run("ip", "-j", "-s", "link", "show", "eth0")
	if err != nil {
		return scrape.LinkStats{}, err
	}
	return scrape.ParseLink([]byte(out))
}

func (h *harness) fwknopKeys() fwknopKeys {
	if h.fwkeys.enc == "" {
		h.fwkeys = newFwknopKeys()
	}
	return h.fwkeys
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
