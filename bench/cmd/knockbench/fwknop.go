package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/portknock/knock/bench/internal/flood"
)

// The fwknop scenario's knockdaemon: fwknop's SPA packets on a port of
// its own (fwknopd's pcap capture keeps 62201), granting its own port.
const (
	oursFwknopSPA  = 62203
	portOursFwknop = 2208
)

// fwknopPayload is the length of the flood's garbage: random base64 text
// as long as a typical SPA packet of the fwknop 2.6 client with HMAC.
const fwknopPayload = 180

// oursFwknopDaemon is knockdaemon serving fwknop clients only (mode =
// none) from an access.conf with the same stanza as fwknopd's (its own
// port), capture nflog, grants in nftables.
func oursFwknopDaemon(h *harness, keys fwknopKeys) *daemon {
	cfg := fwknopConfig{id: "ours-fwknop", label: "knockdaemon, fwknop SPA (nflog)", spaPort: oursFwknopSPA, port: portOursFwknop}
	o := &ours{h: h, cfg: oursConfig{label: cfg.label, table: "portknock_fw", metricsAddr: "127.0.0.1:9480"}}
	d := &daemon{id: cfg.id, label: cfg.label}
	dir := filepath.Join(h.work, cfg.id)
	d.launch = func() (*process, error) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		access := filepath.Join(dir, "access.conf")
		if err := os.WriteFile(access, []byte(fwknopAccess(cfg.port, keys)), 0o600); err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "knockdaemon.conf")
		settings := fmt.Sprintf(`# written by knockbench
mode         = none
fwknopaccess = %s
fwknopport   = %d
protected    = tcp/%d
firewall     = nft
nfttable     = "inet %s"
replayfile   = %s
metrics      = %s
runmode      = network
capture      = nflog
`, access, cfg.spaPort, cfg.port, o.cfg.table, filepath.Join(dir, "state", "replay"), o.cfg.metricsAddr)
		if err := os.WriteFile(conf, []byte(settings), 0o600); err != nil {
			return nil, err
		}
		return startProcess(h.topo.host, cfg.id, filepath.Join(h.work, cfg.id+".log"), h.bin.daemon, "-conf", conf)
	}
	d.grants = o.grants
	d.metrics = o.scrape
	d.lanes = []*lane{{id: cfg.id, label: cfg.label, d: d, port: cfg.port,
		build: func(src netip.Addr) ([][]byte, error) { return fwknopKnock(h, cfg, keys, src) }}}
	return d
}

// fwknopDaemons are the three daemons of the scenario, fresh: fwknopd
// with pcap, fwknopd as a UDP server, and knockdaemon, one key pair.
func (h *harness) fwknopDaemons() []*daemon {
	keys := h.fwknopKeys()
	return []*daemon{fwknopDaemon(h, fwknopPcap, keys), fwknopDaemon(h, fwknopUDPS, keys), oursFwknopDaemon(h, keys)}
}

// fwknopSPAPorts are the SPA ports the flood hits, one per daemon.
var fwknopSPAPorts = []uint16{fwknopSPA, fwknopUDP, oursFwknopSPA}

// runFwknop is the fwknop scenario: the fwknop client's SPA packets to
// fwknopd (pcap and UDP server) and to knockdaemon reading the same
// access.conf: knock-to-open latency, then, in fresh namespaces for each
// rate, a flood of garbage UDP from spoofed sources to the three SPA
// ports (-fwknop-rates packets/s to each) with real knocks during it.
func (h *harness) runFwknop(ctx context.Context) error {
	res := &fwknopResult{stamp: h.begin(fmt.Sprintf("-fwknop -knocks %d -fwknop-rates %s -flood-duration %s -legit %d", h.opt.knocks, joinInts(h.opt.fwknopRates), h.opt.floodDur, h.opt.legit)),
		Knocks: h.opt.knocks, Prefix: h.opt.prefix.String(), Duration: h.opt.floodDur, Legit: h.opt.legit, Payload: fwknopPayload}
	res.UptimeBefore = uptime()
	h.res.Fwknop = res
	ds := h.fwknopDaemons()
	res.Lanes = h.knockRounds(ctx, "fwknop latency", ds, h.opt.knocks)
	for _, d := range ds {
		d.stop()
	}
	h.save()
	for _, rate := range h.opt.fwknopRates {
		if ctx.Err() != nil {
			break
		}
		h.closeTopo() // every run starts afresh: no grant, rule or process of the last one
		if err := h.openTopo(); err != nil {
			return err
		}
		run, err := h.fwknopFloodRun(ctx, rate)
		if run != nil {
			res.Runs = append(res.Runs, run)
		}
		if err != nil {
			return err
		}
		h.save()
	}
	res.UptimeAfter = uptime()
	res.end()
	return ctx.Err()
}

// fwknopFloodRun floods each SPA port with rate garbage datagrams a
// second while every daemon is knocked on -legit times, each knock given
// one second. CPU per packet divides a daemon's CPU by the packets sent
// to its own port (a third of the flood, drawn at random).
func (h *harness) fwknopFloodRun(ctx context.Context, rate int) (*floodRun, error) {
	send := func(ctx context.Context) (flood.Stats, error) {
		return h.floodUDP(ctx, rate*len(fwknopSPAPorts), uint64(rate))
	}
	return h.floodWith(ctx, h.fwknopDaemons(), &floodRun{Target: "fwknop-spa-ports", Rate: rate},
		fmt.Sprintf("fwknop flood at %d/s to each of %d SPA ports", rate, len(fwknopSPAPorts)), send, len(fwknopSPAPorts))
}

// floodUDP sends the garbage, split over two senders above 50,000
// packets a second (as flood).
func (h *harness) floodUDP(ctx context.Context, rate int, seed uint64) (flood.Stats, error) {
	n := 1
	if rate > 50000 {
		n = floodSenders
	}
	type out struct {
		st  flood.Stats
		err error
	}
	done := make(chan out, n)
	for i := 0; i < n; i++ {
		var raw *flood.Raw
		if err := h.topo.client.Do(func() (err error) { raw, err = flood.OpenRaw(hostIP); return err }); err != nil {
			return flood.Stats{}, err
		}
		defer raw.Close()
		cfg := flood.Config{Prefix: h.opt.prefix, Dst: hostIP, Ports: fwknopSPAPorts, Rate: float64(rate) / float64(n),
			Duration: h.opt.floodDur, Seed: seed + uint64(i)*7919, UDP: fwknopPayload}
		go func() {
			st, err := flood.Run(ctx, cfg, raw, flood.SystemClock{})
			done <- out{st, err}
		}()
	}
	var total flood.Stats
	var err error
	for i := 0; i < n; i++ {
		o := <-done
		total.Sent += o.st.Sent
		total.Failed += o.st.Failed
		total.Elapsed = max(total.Elapsed, o.st.Elapsed)
		if o.err != nil {
			err = o.err
		}
	}
	return total, err
}

// uptime is what uptime(1) says: the machine is shared.
func uptime() string {
	out, _ := exec.Command("uptime").Output()
	return strings.TrimSpace(string(out))
}

func reportFwknop(w writer, f *fwknopResult) {
	w("## fwknop's client: fwknopd and knockdaemon\n\n")
	w("The fwknop 2.6 client (Debian's, test mode `-T -B`) builds each SPA packet\n")
	w("asking for tcp/PORT to a fresh source address; the harness sends it from that\n")
	w("address. fwknopd with pcap, fwknopd as a UDP server and knockdaemon (`mode =\n")
	w("none`, `fwknopaccess`, nflog capture) read the same access stanza (key pair,\n")
	w("`REQUIRE_SOURCE_ADDRESS Y`, `FW_ACCESS_TIMEOUT 600`), each with its own\n")
	w("SPA port and protected port. Latency: from the packet leaving the client to an\n")
	w("established connection, %d knocks per daemon, one at a time.\n\n", f.Knocks)
	w("Command: `%s`; %s. `uptime` before: `%s`; after: `%s`.\n\n", f.Command, loadText(f.stamp), f.UptimeBefore, f.UptimeAfter)
	w("| lane | opened | median | p90 | p99 | max | CPU per knock |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, ln := range f.Lanes {
		if ln.Err != "" {
			w("| %s | error: %s | | | | | |\n", ln.Label, oneLine(ln.Err))
			continue
		}
		s := ln.Summary
		w("| %s | %d/%d | %s | %s | %s | %s | %s |\n", ln.Label, ln.Opened, ln.Total, dur(s.Median), dur(s.P90), dur(s.P99), dur(s.Max), dur(ln.CPUPerKnock))
	}
	w("\nFlood: %d-byte datagrams of random base64 text from spoofed sources in %s to\n", f.Payload, f.Prefix)
	w("the three SPA ports (the rate is per port), %s per rate, fresh namespaces and\n", dur(f.Duration))
	w("daemons each time; %d real knocks per daemon during it, each given 1 s. CPU per\n", f.Legit)
	w("packet is the daemon's CPU (until it is idle again) over the packets sent to its port.\n\n")
	w("| rate per port | achieved (all ports) | daemon | CPU | CPU per flood packet | RSS at end | knocks open within 1 s | spoofed granted |\n")
	w("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, run := range f.Runs {
		for _, d := range run.Daemons {
			if d.Err != "" {
				w("| %d | %.0f/s | %s | error: %s | | | | |\n", run.Rate, run.Achieved, d.Label, oneLine(d.Err))
				continue
			}
			w("| %d | %.0f/s | %s | %s | %.1f µs | %s | %d/%d | %d |\n", run.Rate, run.Achieved, d.Label, dur(d.CPU), d.CPUPerMpkt, mib(d.RSSEnd), d.Opened, len(d.Legit), d.Spoofed)
		}
	}
	w("\n")
}
