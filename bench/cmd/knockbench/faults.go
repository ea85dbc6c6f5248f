package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portknock/knock/bench/internal/scrape"
	"github.com/portknock/knock/logline"
	"github.com/portknock/knock/sealed"
)

// faultGrant is how long the knock of the kill test asks for.
const faultGrant = 5 * time.Second

// knockMsg is one sealed knock, kept so that it can be sent again.
type knockMsg struct {
	src   netip.Addr
	pkts  [][]byte // network mode
	lines []string // file mode
}

// transport delivers knocks to our daemon: as packets, or as lines of the
// log it follows.
type transport interface {
	send(k knockMsg) error
}

type netTransport struct{ h *harness }

func (t netTransport) send(k knockMsg) error {
	return t.h.topo.client.Do(func() error {
		for i, p := range k.pkts {
			if i > 0 {
				time.Sleep(t.h.opt.gap)
			}
			if err := t.h.knocker.Send(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// makeKnock seals a knock for src asking for dur (0: the daemon's
// default), as packets and as log lines.
func (o *ours) makeKnock(src netip.Addr, dur time.Duration) (knockMsg, error) {
	b, err := sealed.Seal(o.key, sealed.Message{Client: src, Port: o.cfg.port, Proto: sealed.TCP, Duration: dur, Time: time.Now()}, crand.Reader)
	if err != nil {
		return knockMsg{}, err
	}
	ports := sealed.Encode(o.span, b)
	k := knockMsg{src: src}
	if k.pkts, err = synSequence(src, ports); err != nil {
		return k, err
	}
	for _, p := range ports {
		k.lines = append(k.lines, logline.Render(logline.DefaultTemplate, logline.Fields{
			Date: time.Now(), Client: src, Remote: hostIP, ClientPort: ephemeral(), RemotePort: p}))
	}
	return k, nil
}

// isOpen connects from src to port once, within d.
func (h *harness) isOpen(src netip.Addr, port uint16, d time.Duration) bool {
	var ok bool
	h.topo.client.Do(func() error {
		_, ok, _ = probe(src, netip.AddrPortFrom(hostIP, port), time.Now(), d, probePeriod)
		return nil
	})
	return ok
}

// runFaults is scenario 4.
func (h *harness) runFaults(ctx context.Context) error {
	res := &faultResult{stamp: h.begin("-faults")}
	h.res.Faults = res
	o, err := newOurs(h, oursNflog)
	if err != nil {
		return err
	}
	d := o.daemon()
	res.Mode = "network (nflog)"
	var tr transport = netTransport{h}
	h.logf("faults: starting %s", d.label)
	if err := d.start(ctx, h); err != nil {
		// Without network capture, the kill and restart tests read
		// knocks from a log file instead: what they test is the same.
		h.logf("faults: network mode unavailable (%v); using file mode", firstLine(err))
		res.Mode = "file (network mode unavailable: " + firstLine(err) + ")"
		fd, ft, ferr := h.fileDaemon(o, "faults")
		if ferr != nil {
			return ferr
		}
		d, tr = fd, ft
		if err := d.start(ctx, h); err != nil {
			return err
		}
	}
	k := h.killTest(ctx, o, d, tr, &res.Kill)
	h.restartTest(ctx, o, d, tr, k, &res.Restart)
	d.stop()
	h.rotationTest(ctx, o, &res.Rotation)
	res.end()
	return ctx.Err()
}

// killTest grants, kills the daemon with SIGKILL, and watches the port
// close at the grant's end with no daemon running.
func (h *harness) killTest(ctx context.Context, o *ours, d *daemon, tr transport, r *killFault) knockMsg {
	r.Grant = faultGrant
	src := h.topo.addr()
	k, err := o.makeKnock(src, faultGrant)
	if err != nil {
		r.Err = err.Error()
		return k
	}
	if err := tr.send(k); err != nil {
		r.Err = err.Error()
		return k
	}
	var opened time.Time
	for t0 := time.Now(); time.Since(t0) < 2*time.Second; {
		if h.isOpen(src, o.cfg.port, 50*time.Millisecond) {
			opened, r.OpenBefore = time.Now(), true
			break
		}
	}
	if !r.OpenBefore {
		r.Err = "the knock did not open the port"
		return k
	}
	d.proc.kill()
	r.Killed = !d.proc.alive()
	h.logf("faults: granted %s, daemon killed with SIGKILL (gone: %v)", faultGrant, r.Killed)
	r.OpenAfterKill = h.isOpen(src, o.cfg.port, 100*time.Millisecond)
	for time.Since(opened) < faultGrant+10*time.Second && ctx.Err() == nil {
		if !h.isOpen(src, o.cfg.port, 40*time.Millisecond) {
			r.ClosedAfter = time.Since(opened)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.StaysClosed = r.ClosedAfter > 0 && !h.isOpen(src, o.cfg.port, 2*time.Second)
	r.Pass = r.Killed && r.OpenAfterKill && r.StaysClosed &&
		r.ClosedAfter > faultGrant-1500*time.Millisecond && r.ClosedAfter < faultGrant+1500*time.Millisecond
	h.logf("faults: port closed %s after it opened (grant %s), daemon not running", r.ClosedAfter.Round(time.Millisecond), faultGrant)
	return k
}

// restartTest restarts the daemon on the same replay file and sends the
// earlier knock again, byte for byte, from the same address.
func (h *harness) restartTest(ctx context.Context, o *ours, d *daemon, tr transport, k knockMsg, r *restartFault) {
	if err := d.start(ctx, h); err != nil {
		r.Err = err.Error()
		return
	}
	r.Restarted = true
	m0, err := d.metrics()
	if err != nil {
		r.Err = err.Error()
		return
	}
	if err := tr.send(k); err != nil {
		r.Err = err.Error()
		return
	}
	r.ReplayOpened = h.isOpen(k.src, o.cfg.port, 2*time.Second)
	// Wait for the daemon's decision on it (at most 5 s more).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		m1, _ := d.metrics()
		r.ReplayRefused = 0
		for key, v := range m1 {
			if strings.HasPrefix(key, "knockdaemon_knocks_rejected_total") && strings.Contains(key, "replay") {
				r.ReplayRefused += v - m0[key]
			}
		}
		if r.ReplayRefused > 0 || scrape.Metrics(m1).Sum("knockdaemon_knocks_accepted_total") > scrape.Metrics(m0).Sum("knockdaemon_knocks_accepted_total") {
			break
		}
	}
	fresh, err := o.makeKnock(k.src, 0)
	if err == nil {
		err = tr.send(fresh)
	}
	if err != nil {
		r.Err = err.Error()
		return
	}
	r.FreshOpened = h.isOpen(k.src, o.cfg.port, 2*time.Second)
	r.Pass = r.Restarted && !r.ReplayOpened && r.ReplayRefused >= 1 && r.FreshOpened
	h.logf("faults: after restart the replayed knock opened: %v (replay rejections %g); a fresh knock opened: %v", r.ReplayOpened, r.ReplayRefused, r.FreshOpened)
}

// fileDaemon is our daemon following a log file, with a lane that writes
// its knocks there.
func (h *harness) fileDaemon(o *ours, name string) (*daemon, *fileTransport, error) {
	dir := filepath.Join(h.work, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	ft, err := newFileTransport(filepath.Join(dir, "kern.log"))
	if err != nil {
		return nil, nil, err
	}
	d := o.daemonMode(o.cfg.id+"-"+name, "file", fmt.Sprintf("logfile    = %s\n", ft.path))
	d.id, d.label = o.cfg.id+"-file", "knockdaemon (file mode)"
	d.lanes = []*lane{{id: "ours-file", label: "knockdaemon, sealed knock in the log", d: d, port: o.cfg.port,
		build: func(src netip.Addr) ([][]byte, error) {
			k, err := o.makeKnock(src, 0)
			if err != nil {
				return nil, err
			}
			return nil, ft.send(k)
		}}}
	return d, ft, nil
}

// fileTransport appends knocks to a log, as syslog would, and rotates it.
type fileTransport struct {
	path string
	w    *rotWriter
}

func newFileTransport(path string) (*fileTransport, error) {
	w, err := openRotWriter(path)
	if err != nil {
		return nil, err
	}
	return &fileTransport{path: path, w: w}, nil
}

func (t *fileTransport) send(k knockMsg) error {
	if len(k.lines) == 0 {
		return errors.New("no log lines in the knock")
	}
	for _, l := range k.lines {
		if err := t.w.write(l); err != nil {
			return err
		}
	}
	return nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
