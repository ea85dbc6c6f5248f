package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/portknock/knock/bench/internal/proc"
	"github.com/portknock/knock/bench/internal/stats"
)

// latencyWithin is how long one knock of the latency scenario may take
// to open before it counts as failed.
const latencyWithin = 5 * time.Second

// runLatency is scenario 2: every daemon runs, and each lane is knocked
// on in turn (in a shuffled order each round, so that no daemon always
// follows the same other one), one knock at a time, N rounds.
func (h *harness) runLatency(ctx context.Context) error {
	res := &latencyResult{stamp: h.begin(fmt.Sprintf("-latency -knocks %d", h.opt.knocks)), Knocks: h.opt.knocks}
	h.res.Latency = res
	ds, err := h.floodDaemons()
	if err != nil {
		return err
	}
	ds = append(ds, fwknopDaemon(h, fwknopUDPS, h.fwknopKeys()))
	defer func() {
		for _, d := range ds {
			d.stop()
		}
	}()
	res.Lanes = h.knockRounds(ctx, "latency", ds, h.opt.knocks)
	res.end()
	return ctx.Err()
}

// knockRounds starts the daemons, knocks on each of their lanes in turn
// (in a shuffled order each round, so that no daemon always follows the
// same other one), one knock at a time, n rounds, and reports each lane.
// The caller stops the daemons.
func (h *harness) knockRounds(ctx context.Context, tag string, ds []*daemon, n int) []*latencyLane {
	var lanes []*latencyLane
	byID := map[*lane]*latencyLane{}
	var all []*lane
	for _, d := range ds {
		h.logf("%s: starting %s", tag, d.label)
		err := d.start(ctx, h)
		for _, l := range d.lanes {
			ll := &latencyLane{ID: l.id, Label: l.label}
			if err != nil {
				ll.Err = err.Error()
			} else {
				all = append(all, l)
			}
			lanes = append(lanes, ll)
			byID[l] = ll
		}
	}
	before := map[*daemon]proc.Sample{}
	for _, d := range running(ds) {
		before[d] = d.usage()
	}
	h.logf("%s: %d knocks on each of %d lanes", tag, n, len(all))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := 0; i < n && ctx.Err() == nil; i++ {
		rng.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })
		for _, l := range all {
			r := h.attempt(l, latencyWithin)
			ll := byID[l]
			ll.Total++
			if r.Opened {
				ll.Opened++
				ll.Samples = append(ll.Samples, r.Latency)
			} else if r.Err != "" && len(ll.Errors) < 5 {
				ll.Errors = append(ll.Errors, r.Err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if (i+1)%50 == 0 {
			h.logf("%s: %d rounds", tag, i+1)
		}
	}
	for _, d := range running(ds) {
		cpu := d.usage().CPU() - before[d].CPU()
		knocks := 0
		for _, l := range d.lanes {
			knocks += byID[l].Total
		}
		for _, l := range d.lanes {
			if knocks > 0 {
				byID[l].CPUPerKnock = cpu / time.Duration(knocks)
			}
		}
	}
	for _, ll := range lanes {
		ll.Summary = stats.Summarize(ll.Samples)
	}
	return lanes
}
