package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portknock/knock/bench/internal/lossy"
	"github.com/portknock/knock/bench/internal/stats"
)

// The lossy link, each direction on its own: 5% of frames lost, a delay
// of 20 ms ± 20 ms (so frames closer than 40 ms apart may swap), and 5%
// of frames sent at once, overtaking those still delayed: what
// `tc qdisc add dev eth0 root netem delay 20ms 20ms loss 5% reorder 5%`
// on both ends of a veth would do.
var lossyLink = lossy.Config{Loss: 0.05, Delay: 20 * time.Millisecond, Jitter: 20 * time.Millisecond, Reorder: 0.05}

const (
	lossyWithin = 10 * time.Second
	lossyProbe  = 10 * time.Millisecond
	// knockDelay is knock's -d: the same pause between packets as
	// knockclient's default (timeout = 0.1). knock's own default is no
	// pause, which under 40 ms of jitter swaps packets most of the time.
	knockDelay = 100
)

// lossyLane is one real client, run once per attempt.
type lossyLane struct {
	id, label string
	dsts      []netip.Addr // one worker per destination address of the host
	port      uint16
	cmd       func(src, dst netip.Addr) []string
}

// runLossy is scenario 3: the daemons run, the link turns lossy, and each
// client is run for every attempt from a fresh address; an attempt
// succeeds when the harness, connecting from that address every 10 ms,
// gets through within 10 s of the client's start.
func (h *harness) runLossy(ctx context.Context) error {
	res := &lossyResult{stamp: h.begin(fmt.Sprintf("-lossy -lossy-attempts %d", h.opt.lossyN)),
		Netem: lossyLink.String() + " each way, by the harness's relay (package lossy; this kernel has no netem)", Within: lossyWithin, Attempts: h.opt.lossyN}
	h.res.Lossy = res
	h.closeTopo()
	if err := h.openTopoLink(true); err != nil {
		return err
	}
	o, err := newOurs(h, oursNflog)
	if err != nil {
		return err
	}
	keys := h.fwknopKeys()
	ds := []*daemon{o.daemon(), knockdDaemon(h), fwknopDaemon(h, fwknopPcap, keys)}
	defer func() {
		for _, d := range ds {
			d.stop()
		}
	}()
	failed := map[string]string{}
	for _, d := range ds {
		h.logf("lossy: starting %s", d.label)
		if err := d.start(ctx, h); err != nil {
			failed[d.id] = err.Error()
		}
	}
	conf := filepath.Join(h.work, "knockclient.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("mode = sealed\nkeyfile = %s\nportspan = %s\nspaport = %d\n", o.keyPath, spanText, oursSPA)), 0o600); err != nil {
		return err
	}
	ours := func(extra ...string) func(src, dst netip.Addr) []string {
		return func(src, dst netip.Addr) []string {
			return append([]string{h.bin.client, "-conf", conf, "-remote", dst.String(), "-client", src.String(),
				"-port", fmt.Sprint(portOurs), "-verify", "-retry", "5", "-quiet"}, extra...)
		}
	}
	knockSeq := make([]string, len(knockdSequence))
	for i, p := range knockdSequence {
		knockSeq[i] = fmt.Sprint(p)
	}
	lanes := []struct {
		lossyLane
		daemon string
	}{
		{lossyLane{id: "knockclient-span", label: "knockclient -verify -retry 5 (sealed, 20 SYNs over the span)", dsts: laneIPs[:2], port: portOurs, cmd: ours()}, oursNflog.id},
		{lossyLane{id: "knockclient-spa", label: "knockclient -spa -verify -retry 5 (sealed, one datagram)", dsts: laneIPs[2:3], port: portOurs, cmd: ours("-spa")}, oursNflog.id},
		{lossyLane{id: "knock", label: fmt.Sprintf("knock -d %d (3 SYNs), to knockd", knockDelay), dsts: []netip.Addr{hostIP}, port: portKnockd,
			cmd: func(src, dst netip.Addr) []string {
				return append([]string{"knock", "-d", fmt.Sprint(knockDelay), dst.String()}, knockSeq...)
			}}, "knockd"},
		{lossyLane{id: "fwknop", label: "fwknop (one SPA datagram), to fwknopd (pcap)", dsts: laneIPs[3:4], port: portFwknop,
			cmd: func(src, dst netip.Addr) []string {
				return append([]string{"fwknop"}, fwknopArgs(fwknopPcap, keys, src, dst)...)
			}}, fwknopPcap.id},
	}
	h.topo.impair.Set(lossyLink)
	defer h.topo.impair.Set(lossy.Config{})
	h.logf("lossy: link %s; %d attempts per client, each given %s", lossyLink, h.opt.lossyN, lossyWithin)
	var wg sync.WaitGroup
	for _, l := range lanes {
		c := &lossyClient{ID: l.id, Label: l.label, Command: maskedCommand(l.cmd(netip.MustParseAddr("10.78.0.1"), l.dsts[0]), h.work)}
		res.Clients = append(res.Clients, c)
		if msg, ok := failed[l.daemon]; ok {
			c.Err = msg
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.lossyLane(ctx, &l.lossyLane, c)
		}()
	}
	wg.Wait()
	res.end()
	return ctx.Err()
}

// lossyLane runs one client's attempts, one worker per destination.
func (h *harness) lossyLane(ctx context.Context, l *lossyLane, c *lossyClient) {
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for _, dst := range l.dsts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				if next >= h.opt.lossyN {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				r := h.lossyAttempt(ctx, l, dst)
				mu.Lock()
				c.Total++
				if r.Opened {
					c.Opened++
					c.Times = append(c.Times, r.Latency)
				} else if r.Err != "" && len(c.Errors) < 5 {
					c.Errors = append(c.Errors, r.Err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if c.Total > 0 {
		c.Share = float64(c.Opened) / float64(c.Total)
	}
	c.Summary = stats.Summarize(c.Times)
	h.logf("lossy: %s opened %d of %d", c.ID, c.Opened, c.Total)
}

// lossyAttempt runs the client once from a fresh address, and connects
// from that address until the port opens or the time is up.
func (h *harness) lossyAttempt(ctx context.Context, l *lossyLane, dst netip.Addr) result {
	src := h.topo.addr()
	r := result{Lane: l.id, Src: src.String()}
	// The client's packets leave from src: the route to its destination
	// says so. Each worker has a destination of its own.
	if _, err := h.topo.client.Run("ip", "route", "replace", dst.String()+"/32", "dev", "eth0", "src", src.String()); err != nil {
		r.Err = err.Error()
		return r
	}
	cctx, cancel := context.WithTimeout(ctx, lossyWithin)
	defer cancel()
	args := l.cmd(src, dst)
	cmd := h.topo.client.Command(args[0], args[1:]...)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		r.Err = err.Error()
		return r
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	go func() {
		<-cctx.Done()
		cmd.Process.Kill()
	}()
	err := h.topo.client.Do(func() error {
		lat, ok, err := probe(src, netip.AddrPortFrom(dst, l.port), t0, lossyWithin, lossyProbe)
		r.Opened, r.Latency = ok, lat
		return err
	})
	cancel()
	<-exited
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// maskedCommand prints a client's command line with its keys replaced,
// and the harness's work directory shortened.
func maskedCommand(args []string, work string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if i > 0 && strings.HasPrefix(args[i-1], "--key") {
			a = "KEY"
		}
		out[i] = strings.ReplaceAll(a, work, "$WORK")
	}
	return strings.Join(out, " ")
}
