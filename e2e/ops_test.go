package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Killed with SIGKILL while access is granted, the daemon leaves the
// kernel to end the grant on time; restarted, it still refuses the knock
// it accepted before (the replay cache survived).
func TestKilledDaemonFailsClosed(t *testing.T) {
	l := newLab(t)
	conf := l.conf("knock.conf", legacyConf(`
runmode    = network
capture    = nflog
replayfile = `+l.dir+`/state/replay
`))
	d := l.daemon(conf, l.nflogReady)
	l.knock(conf)
	l.waitConnect(l.pair.HostV4, 22, true, 3*time.Second)
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.cmd.Wait()
	t.Log("daemon killed while the grant is open")
	if !l.canConnect(l.pair.HostV4, 22) {
		t.Fatal("the grant ended with the daemon, before its time")
	}
	l.waitConnect(l.pair.HostV4, 22, false, grant+5*time.Second)
	t.Log("closed on time with no daemon running")

	d2 := l.daemon(conf, l.nflogReady)
	l.knock(conf)
	l.refused(d2, "replay", "after a restart, the knock accepted before")
}

// SIGHUP reloads the configuration and keeps granted access; a reload that
// does not load changes nothing. SIGTERM stops the daemon cleanly and the
// guard stays.
func TestReloadAndStop(t *testing.T) {
	l := newLab(t)
	l.serve(2222)
	body := legacyConf(`
runmode    = network
capture    = nflog
replayfile = ` + l.dir + `/state/replay
metrics    = 127.0.0.1:9477
duration   = 1m
iv         = yes
`)
	body = strings.Replace(body, "duration   = 3s\n", "", 1)
	conf := l.conf("knock.conf", body)
	d := l.daemon(conf, l.nflogReady)
	l.knock(conf)
	l.waitConnect(l.pair.HostV4, 22, true, 3*time.Second)

	// A broken file: the reload is refused, the daemon goes on.
	os.WriteFile(conf, []byte(body+"protected = tcp/0\n"), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "reload refused")
	// A good one that protects 2222 too: access to 22 is kept.
	os.WriteFile(conf, []byte(strings.Replace(body, "protected  = tcp/22", "protected  = tcp/22, tcp/2222", 1)), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "configuration reloaded")
	if !l.canConnect(l.pair.HostV4, 22) {
		t.Fatal("the reload dropped granted access")
	}
	if l.canConnect(l.pair.HostV4, 2222) {
		t.Fatal("port 2222 is not guarded after the reload protected it")
	}

	metrics := l.scrape("127.0.0.1:9477", "/metrics")
	for _, want := range []string{`knockdaemon_knocks_accepted_total{protocol="legacy",user=""} 1`, "knockdaemon_grants_open 1", `knockdaemon_knocks_rejected_total{protocol="legacy",reason="decrypt",user=""}`, "knockdaemon_hits_total", "knockdaemon_capture_overruns_total 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}

	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, d.out.String())
	}
	if l.canConnect(l.pair.HostV4, 2222) {
		t.Fatal("stopping the daemon opened a protected port")
	}
	if !l.canConnect(l.pair.HostV4, 22) {
		t.Fatal("stopping the daemon ended a grant before its time")
	}
}

func waitLog(t *testing.T, d *daemonProc, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.out.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", what, d.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrape fetches path from addr inside the host namespace, over a
// connection dialled there (an http.Client would dial from another thread,
// outside the namespace).
func (l *lab) scrape(addr, path string) string {
	l.t.Helper()
	var body []byte
	err := l.pair.Host.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("GET " + path + " HTTP/1.0\r\nHost: " + addr + "\r\n\r\n")); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return string(body)
}
