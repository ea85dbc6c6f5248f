package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/portknock/knock/bench/internal/proc"
)

// daemon is one daemon under test: how to start it, the ways to knock on
// it (lanes), and how to read the grants it made.
type daemon struct {
	id     string // ours-nflog, ours-afpacket, knockd, fwknopd-pcap, fwknopd-udp
	label  string // for the report
	launch func() (*process, error)
	proc   *process
	lanes  []*lane
	// grants lists the addresses the daemon let in so far.
	grants func() ([]netip.Addr, error)
	// metrics, when set, reads the daemon's own counters.
	metrics func() (map[string]float64, error)
	// err is why the daemon could not run, when it could not.
	err error
}

// lane is one way to knock on a daemon: a knock built for a source
// address, sent as raw packets, and the protected port it opens.
type lane struct {
	id    string // ours-span, ours-spa, ours-afpacket, knockd, fwknopd-pcap, fwknopd-udp
	label string
	d     *daemon
	port  uint16
	build func(src netip.Addr) ([][]byte, error)
}

func (l *lane) target() netip.AddrPort { return netip.AddrPortFrom(hostIP, l.port) }

// start launches the daemon and waits until a knock on its first lane
// opens its port (at most 20 s): only then is it measured.
func (d *daemon) start(ctx context.Context, h *harness) error {
	p, err := d.launch()
	if err != nil {
		d.err = err
		return err
	}
	d.proc = p
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !p.alive() {
			d.err = fmt.Errorf("%s exited at start (%v):\n%s", d.label, p.exitErr(), p.logTail(8))
			return d.err
		}
		r := h.attempt(d.lanes[0], time.Second)
		if r.Opened {
			return nil
		}
		if r.Unguarded {
			time.Sleep(100 * time.Millisecond) // still starting
			continue
		}
		if r.Err != "" {
			d.err = fmt.Errorf("%s: warm-up knock: %s", d.label, r.Err)
			return d.err
		}
	}
	p.stop(5 * time.Second)
	d.err = fmt.Errorf("%s never opened its port after a knock in 20 s:\n%s", d.label, p.logTail(8))
	if ctx.Err() != nil {
		d.err = ctx.Err()
	}
	return d.err
}

// stop ends the daemon (SIGTERM, then SIGKILL after 5 s).
func (d *daemon) stop() {
	if d.proc != nil {
		d.proc.stop(5 * time.Second)
	}
}

// usage samples CPU and memory, zero when the daemon is gone.
func (d *daemon) usage() proc.Sample {
	if d.proc == nil || !d.proc.alive() {
		return proc.Sample{}
	}
	s, _ := d.proc.sample()
	return s
}

// running are the daemons that started.
func running(ds []*daemon) []*daemon {
	var out []*daemon
	for _, d := range ds {
		if d.err == nil && d.proc != nil && d.proc.alive() {
			out = append(out, d)
		}
	}
	return out
}
