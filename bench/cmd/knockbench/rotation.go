package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portknock/knock/bench/internal/scrape"
	"github.com/portknock/knock/logline"
)

// The log-rotation load: knocks written at rotRate for rotFor, the log
// rotated every rotEvery, by rename and by copytruncate in turn.
const (
	rotRate  = 200 // knocks per second (20 lines each, plus noise)
	rotFor   = 10 * time.Second
	rotEvery = 250 * time.Millisecond
	// rotReopen is how long the writer goes on writing into a renamed
	// log before it reopens the path, as syslog does when logrotate's
	// postrotate signal reaches it.
	rotReopen = 30 * time.Millisecond
)

// rotWriter appends whole lines to a log under a lock that rotation
// takes too.
type rotWriter struct {
	mu    sync.Mutex
	path  string
	f     *os.File
	lines int
	kind  map[string]string // file set aside: how (rename, copytruncate)
}

func openRotWriter(path string) (*rotWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	return &rotWriter{path: path, f: f, kind: map[string]string{}}, nil
}

func (w *rotWriter) write(line string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines++
	_, err := w.f.WriteString(line + "\n")
	return err
}

// rename moves the log aside; the writer keeps its descriptor, so lines
// still go to the moved file until reopen.
func (w *rotWriter) rename(to string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.kind[to] = "rename"
	return os.Rename(w.path, to)
}

func (w *rotWriter) reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	w.f.Close()
	w.f = f
	return nil
}

// copytruncate copies the log aside and empties it, as logrotate's
// copytruncate does. It holds the writer's lock throughout: logrotate
// does not, and loses the lines written between its copy and its
// truncate, which no reader can recover; holding it tests the daemon,
// not that window.
func (w *rotWriter) copytruncate(to string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.kind[to] = "copytruncate"
	src, err := os.Open(w.path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Truncate(w.path, 0)
}

func (w *rotWriter) close() error { return w.f.Close() }

// rotationTest runs our daemon in file mode and writes knocks into its
// log while rotating it; every knock must be accepted.
func (h *harness) rotationTest(ctx context.Context, o *ours, r *rotationFault) {
	d, ft, err := h.fileDaemon(o, "rotation")
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer ft.w.close()
	h.logf("faults: starting %s for the log rotation", d.label)
	if err := d.start(ctx, h); err != nil {
		r.Err = err.Error()
		return
	}
	defer d.stop()
	m0, err := d.metrics()
	if err != nil {
		r.Err = err.Error()
		return
	}
	stop := make(chan struct{})
	rotated := make(chan error, 1)
	go func() { rotated <- h.rotate(ft.w, stop, r) }()
	var srcs []netip.Addr
	start := time.Now()
	r.Knocks = int(rotRate * rotFor.Seconds())
	for i := 0; i < r.Knocks && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / rotRate)); wait > 0 {
			time.Sleep(wait)
		}
		src := h.topo.addr()
		k, err := o.makeKnock(src, 0)
		if err == nil {
			err = ft.send(k)
		}
		if err == nil {
			err = ft.w.write(noise(i))
		}
		if err != nil {
			r.Err = err.Error()
			break
		}
		srcs = append(srcs, src)
	}
	r.Duration = time.Since(start)
	close(stop)
	if err := <-rotated; err != nil && r.Err == "" {
		r.Err = err.Error()
	}
	r.Knocks = len(srcs)
	r.Lines = ft.w.lines
	// The daemon may be a little behind the writer: give it 15 s.
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		m1, err := d.metrics()
		if err == nil {
			r.Accepted = int(scrape.Metrics(m1).Sum("knockdaemon_knocks_accepted_total") - scrape.Metrics(m0).Sum("knockdaemon_knocks_accepted_total"))
		}
		if r.Accepted >= r.Knocks {
			break
		}
	}
	granted := map[netip.Addr]bool{}
	if gs, err := d.grants(); err == nil {
		for _, a := range gs {
			granted[a] = true
		}
	}
	for _, s := range srcs {
		if granted[s] {
			r.Granted++
		} else if len(r.Lost) < 10 {
			r.Lost = append(r.Lost, ft.w.locate(s))
		}
	}
	r.Pass = r.Err == "" && r.Knocks > 0 && r.Accepted == r.Knocks && r.Granted == r.Knocks
	h.logf("faults: %d knocks (%d lines) written over %s with %d renames and %d copytruncates: %d accepted, %d granted",
		r.Knocks, r.Lines, r.Duration.Round(time.Millisecond), r.Renames, r.Copytruncs, r.Accepted, r.Granted)
}

// rotate rotates the log every rotEvery until stop, by rename and by
// copytruncate in turn, and counts the rotations in r (read once it
// returned).
func (h *harness) rotate(w *rotWriter, stop <-chan struct{}, r *rotationFault) error {
	t := time.NewTicker(rotEvery)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-stop:
			return nil
		case <-t.C:
		}
		aside := fmt.Sprintf("%s.%d", w.path, n)
		if n%2 == 1 {
			if err := w.rename(aside); err != nil {
				return fmt.Errorf("rename: %w", err)
			}
			time.Sleep(rotReopen)
			if err := w.reopen(); err != nil {
				return fmt.Errorf("reopen: %w", err)
			}
			r.Renames++
		} else {
			if err := w.copytruncate(aside); err != nil {
				return fmt.Errorf("copytruncate: %w", err)
			}
			r.Copytruncs++
		}
	}
}

// noise is a line that is no knock: another port, or another program.
func noise(i int) string {
	if i%2 == 0 {
		return logline.Render(logline.DefaultTemplate, logline.Fields{Date: time.Now(), Client: netip.MustParseAddr("192.0.2.9"), Remote: hostIP, ClientPort: 40000, RemotePort: 443})
	}
	return time.Now().Format(logline.DateLayout) + " localhost CRON[4242]: (root) CMD (run-parts /etc/cron.hourly)"
}

// locate finds the log file holding the lines of src's knock, how that
// file was set aside, and whether any other knock's line follows them.
func (w *rotWriter) locate(src netip.Addr) lostKnock {
	lk := lostKnock{Src: src.String()}
	files, _ := filepath.Glob(w.path + ".*")
	for _, f := range append(files, w.path) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		at := -1
		for i, l := range lines {
			if a, ok := lineSrc(l); ok && a == src {
				at = i
			}
		}
		if at < 0 {
			continue
		}
		lk.File, lk.Rotation, lk.Last = filepath.Base(f), w.kind[f], true
		for _, l := range lines[at+1:] {
			if a, ok := lineSrc(l); ok && poolPrefix.Contains(a) {
				lk.Last = false // another knock follows
				break
			}
		}
		return lk
	}
	return lk
}

// lineSrc reads the SRC= address of a log line.
func lineSrc(line string) (netip.Addr, bool) {
	_, rest, ok := strings.Cut(line, " SRC=")
	if !ok {
		return netip.Addr{}, false
	}
	field, _, _ := strings.Cut(rest, " ")
	a, err := netip.ParseAddr(field)
	return a, err == nil
}
