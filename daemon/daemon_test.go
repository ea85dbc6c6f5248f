package daemon_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/settings"
)

// writeConf writes a configuration file and loads it with extra args.
func loadConf(t *testing.T, body string, args ...string) *settings.Set {
	t.Helper()
	path := filepath.Join(t.TempDir(), "knockdaemon.conf")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := settings.Load(settings.Daemon, append([]string{"-conf", path}, args...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// fileConf is a daemon following a log file in dir, whose firewall is a
// pair of commands that create and remove a flag file: the log-file mode
// without root. extra lines come last.
func fileConf(dir, extra string) (conf, log, flag string) {
	log, flag = filepath.Join(dir, "kern.log"), filepath.Join(dir, "open-22")
	os.WriteFile(log, nil, 0o600)
	return fmt.Sprintf(`
knock        = CLIENT,PORT,FLAG0,CHECKSUM
key          = knock
portspan     = 745-1000
runmode      = file
logfile      = %s
firewall     = command
opencommand  = /usr/bin/touch %s
closecommand = /bin/rm -f %s
timefield    = none
replayfile   = %s
%s`, log, flag, flag, filepath.Join(dir, "state", "replay"), extra), log, flag
}

// start runs d until the test ends, and waits for its log follower.
func start(t *testing.T, d *daemon.Daemon) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(200 * time.Millisecond) // let the follower reach the end of the (empty) log
	return ctx
}

// The log-file mode without root: knock lines in the client's default
// format go into a log, the daemon follows it and runs its open command,
// then its close command when the time is up.
func TestFileModeOpensAndCloses(t *testing.T) {
	conf, log, flag := fileConf(t.TempDir(), "duration = 2s\n")
	d, err := daemon.New(loadConf(t, conf), daemon.Options{Stderr: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	writeKnock(t, log, false)
	waitFor(t, "the open command", func() bool { return exists(flag) })
	waitFor(t, "the close command, 2 s later", func() bool { return !exists(flag) })
	if n := d.Metrics().Accepted(); n != 1 {
		t.Fatalf("accepted %d knocks, want 1", n)
	}
}

func TestStartupRefusesHalfConfigured(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"key k\nprotected = tcp/0\n", ":2: protected: \"tcp/0\" is not a protected port"},
		{"key k\ntimefield = FLAG3\n", ":2: timefield: field \"FLAG3\" is not in the knock format"},
		{"key k\nfirewall = pf\n", ":2: firewall: expected nft, iptables or command"},
		{"key k\nrunmode = file\nlogfile = /nonexistent/dir/log\n", ":3: logfile: "},
		{"mode sealed\n", "mode = sealed needs a key"},
		{"portspan 1-2\n", "knockdaemon.conf: key: no value is set"},
		{"key k\nduration 90\nmaxduration 60\n", ":2: duration: is longer than maxduration"},
		{"key k\nportspan 0-255\n", ":2: portspan: includes the protected port tcp/22"},
		{"key k\nknock CLIENT,FLAG0,CHECKSUM\n", ":2: knock: knock format \"CLIENT,FLAG0,CHECKSUM\" has no PORT"},
		{"key k\nclosefield FLAG9\n", ":2: closefield: field \"FLAG9\""},
	} {
		set := loadConf(t, tc.conf, "-replayfile", filepath.Join(t.TempDir(), "state", "r"), "-firewall", "command", "-opencommand", "/bin/true", "-closecommand", "/bin/true")
		if strings.Contains(tc.conf, "firewall") {
			set = loadConf(t, tc.conf, "-replayfile", filepath.Join(t.TempDir(), "state", "r"))
		}
		_, err := daemon.New(set, daemon.Options{Stderr: testWriter{t}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error containing %q", tc.conf, err, tc.want)
		}
	}
}

func TestDecodeVerdicts(t *testing.T) {
	set := loadConf(t, "key knock\nportspan 745-1000\nreplay no\n")
	d, err := daemon.NewDecoder(set)
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := daemon.ParsePorts("966,914,795,964,831,862,807,932")
	if v := d.Decode(v1, netip.Addr{}); !v.Accept || v.Action != "open tcp/22 to 142.103.205.1 for 15m0s" {
		t.Fatalf("V1: %+v", v)
	}
	if v := d.Decode(v1, netip.MustParseAddr("10.0.0.1")); v.Accept || v.Reason != "client" || v.Fields["port"] != 22 {
		t.Fatalf("V1 from elsewhere: %+v", v)
	}
	if _, err := daemon.ParsePorts("966 x"); err == nil {
		t.Fatal("a bad port parsed")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// A bad close command is reported at closecommand, not opencommand.
func TestCommandErrorsNameTheSetting(t *testing.T) {
	set := loadConf(t, "key k\nfirewall command\nopencommand /bin/true\nclosecommand /no/such/program %IP%\n", "-replayfile", filepath.Join(t.TempDir(), "state", "r"))
	_, err := daemon.New(set, daemon.Options{Stderr: testWriter{t}})
	if err == nil || !strings.Contains(err.Error(), ":4: closecommand: ") {
		t.Fatalf("%v, want an error at closecommand", err)
	}
}
