package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// isolatedConf is a daemon of its own on the lab's host: its own NFLOG
// group, nft table, knock span, protected port and state directory.
func (l *lab) isolatedConf(name string, group, port int, table, span string) string {
	body := legacyConf(`
runmode    = network
capture    = nflog
nfloggroup = ` + itoa(group) + `
nfttable   = ` + table + `
replayfile = ` + filepath.Join(l.dir, name, "replay") + `
iv         = yes
`)
	body = strings.NewReplacer(
		"portspan   = 40000-40255", "portspan   = "+span,
		"port       = 22", "port       = "+itoa(port),
		"protected  = tcp/22", "protected  = tcp/"+itoa(port),
	).Replace(body)
	return l.conf(name+".conf", body)
}

func itoa(n int) string { return strconv.Itoa(n) }

// daemonRefuses runs knockdaemon, which must exit with an error, and
// returns what it wrote.
func (l *lab) daemonRefuses(conf string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := l.pair.Host.Command(filepath.Join(bin, "knockdaemon"), "-conf", conf, "-debug")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		l.t.Fatalf("knockdaemon did not refuse to start:\n%s", out)
	}
	if _, ok := err.(*exec.ExitError); !ok {
		l.t.Fatalf("knockdaemon: got %v, want an exit with an error:\n%s", err, out)
	}
	return string(out)
}

// Several daemons on one host, each with its own NFLOG group and nft
// table, work side by side; one that would share another's group or
// table refuses to start, says why, and never claims it started.
func TestDaemonsShareAHost(t *testing.T) {
	l := newLab(t)
	l.serve(222)
	a := l.isolatedConf("a", 7, 22, "inet portknock", "40000-40255")
	b := l.isolatedConf("b", 8, 222, "inet portknock_b", "41000-41255")
	l.daemon(a, nil)
	l.daemon(b, nil)
	for _, table := range []string{"portknock_log_7", "portknock_log_8", "portknock", "portknock_b"} {
		l.pair.Host.MustRun("nft", "list", "table", "inet", table)
	}
	if l.canConnect(l.pair.HostV4, 22) || l.canConnect(l.pair.HostV4, 222) {
		t.Fatal("a protected port is open before any knock")
	}
	l.knock(b)
	l.waitConnect(l.pair.HostV4, 222, true, 3*time.Second)
	if l.canConnect(l.pair.HostV4, 22) {
		t.Fatal("the second daemon's knock opened the first one's port")
	}
	l.knock(a)
	l.waitConnect(l.pair.HostV4, 22, true, 3*time.Second)

	sameGroup := l.isolatedConf("c", 7, 22, "inet portknock_c", "42000-42255")
	out := l.daemonRefuses(sameGroup)
	if !strings.Contains(out, "NFLOG group 7 is in use by another process: give this daemon its own nfloggroup") {
		t.Errorf("a daemon on a group in use: no clear refusal:\n%s", out)
	}
	if strings.Contains(out, "knockdaemon started") {
		t.Errorf("a daemon whose source failed logged that it started:\n%s", out)
	}
	t.Logf("same group: %s", lastLine(out))

	sameTable := l.isolatedConf("d", 9, 22, "inet portknock", "43000-43255")
	out = l.daemonRefuses(sameTable)
	if !strings.Contains(out, "the table is in use by another knockdaemon") || !strings.Contains(out, "give this daemon its own nfttable") {
		t.Errorf("a daemon on a table in use: no clear refusal:\n%s", out)
	}
	if strings.Contains(out, "knockdaemon started") {
		t.Errorf("a daemon refused its table logged that it started:\n%s", out)
	}
	t.Logf("same table: %s", lastLine(out))

	// Both first daemons still work.
	l.pair.Host.MustRun("nft", "list", "table", "inet", "portknock_log_7")
	l.waitConnect(l.pair.HostV4, 222, false, 10*time.Second)
	l.knock(b)
	l.waitConnect(l.pair.HostV4, 222, true, 3*time.Second)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// "nft flush ruleset" removes the guard: the daemon hears of it from the
// kernel and puts it back at once, says so, and hears knocks again.
func TestGuardBackAfterFlush(t *testing.T) {
	l := newLab(t)
	conf := l.conf("knock.conf", legacyConf(`
runmode    = network
capture    = nflog
replayfile = `+l.dir+`/state/replay
`))
	d := l.daemon(conf, l.nflogReady)
	if l.canConnect(l.pair.HostV4, 22) {
		t.Fatal("port 22 open before any knock")
	}
	l.pair.Host.MustRun("nft", "flush", "ruleset")
	flushed := time.Now()
	deadline := flushed.Add(10 * time.Second)
	for {
		if _, err := l.pair.Host.Run("nft", "list", "table", "inet", "portknock"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guard is not back 10s after a flush:\n%s", d.out.String())
		}
	}
	t.Logf("guard back %v after nft flush ruleset returned (polled with nft list)", time.Since(flushed))
	waitLog(t, d, "the firewall guard was removed (flush ruleset?) and is back")
	if l.canConnect(l.pair.HostV4, 22) {
		t.Fatal("port 22 open after the guard came back")
	}
	l.waitConnect(l.pair.HostV4, 22, false, time.Second)
	l.knock(conf)
	l.waitConnect(l.pair.HostV4, 22, true, 5*time.Second)
}
