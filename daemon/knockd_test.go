package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portknock/knock/daemon"
)

func knockdFiles(t *testing.T, doors string, mode os.FileMode) (dir, conf string) {
	dir = t.TempDir()
	conf = filepath.Join(dir, "knockd.conf")
	if err := os.WriteFile(conf, []byte(doors), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(conf, mode)
	return dir, conf
}

// knockdConf is a daemon serving only a knockd.conf's doors.
func knockdConf(dir, conf, extra string) string {
	return fmt.Sprintf(`
mode       = none
knockdconf = %s
protected  = tcp/22
runmode    = file
logfile    = %s/kern.log
firewall   = command
opencommand  = /bin/true
closecommand = /bin/true
replayfile = %s/state/replay
`, conf, dir, dir) + extra
}

func TestKnockdConfChecks(t *testing.T) {
	dir, conf := knockdFiles(t, "[d]\n\tsequence = 7000,7001\n\tgrant = tcp/22\n", 0o644)
	cfg, err := daemon.Load(loadConf(t, knockdConf(dir, conf, "")))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(cfg.Warnings, func(w string) bool { return strings.Contains(w, "readable by every user (mode 0644)") }) {
		t.Errorf("no warning for a world-readable knockd.conf: %q", cfg.Warnings)
	}
	if !slices.Equal(cfg.Source.AnyFlags, []uint16{7000, 7001}) {
		t.Errorf("the source watches %v for any flags, want the doors' TCP ports", cfg.Source.AnyFlags)
	}
	for _, tc := range []struct{ doors, extra, want string }{
		{"[d]\n\tsequence = 7000\n\tgrant = tcp/23\n", "", `door "d" grants tcp/23, which is not a protected port`},
		{"[d]\n\tsequence = 22,7000\n\tstart_command = true\n", "", "a door knocks on the protected port tcp/22"},
		{"[d]\n\tsequence = 7000:tcpx\n", "", "knockd.conf:2"},
		{"[options]\n\tinterface = eth1\n[d]\n\tsequence = 7000\n\tstart_command = true\n", "interface = eth0\n", `knockdconf's Interface is "eth1"`},
	} {
		dir, conf := knockdFiles(t, tc.doors, 0o600)
		_, err := daemon.Load(loadConf(t, knockdConf(dir, conf, tc.extra)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.doors, err, tc.want)
		}
	}
}

// In file mode, without root: log lines of a sequence open a door whose
// start command runs; at stop its stop command, not yet due, runs too.
func TestKnockdDoorFromLog(t *testing.T) {
	dir, conf := knockdFiles(t, "", 0o600)
	flag := filepath.Join(dir, "open")
	os.WriteFile(conf, []byte(fmt.Sprintf("[d]\n\tsequence = 7000,7001:udp\n\tstart_command = touch %s-%%IP%%\n\tcmd_timeout = 3600\n\tstop_command = rm %s-%%IP%%\n", flag, flag)), 0o600)
	log := filepath.Join(dir, "kern.log")
	os.WriteFile(log, nil, 0o600)
	d, err := daemon.New(loadConf(t, knockdConf(dir, conf, "")), daemon.Options{Stderr: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	waitFor(t, "the stops file", func() bool { return exists(filepath.Join(dir, "state", "knockd-stops.json")) })

	f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	line := "Dec  4 12:00:00 gate kernel: k: IN=eth0 OUT= SRC=192.0.2.7 DST=192.0.2.1 LEN=60 PROTO=%s SPT=40000 DPT=%d %s\n"
	fmt.Fprintf(f, line, "TCP", 7000, "WINDOW=64240 RES=0x00 SYN URGP=0")
	fmt.Fprintf(f, line, "UDP", 7001, "LEN=8")
	f.Close()
	waitFor(t, "the start command", func() bool { return exists(flag + "-192.0.2.7") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if exists(flag + "-192.0.2.7") {
		t.Error("the pending stop command did not run at stop")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "state", "knockd-stops.json")); strings.TrimSpace(string(b)) != "[]" && len(b) != 0 {
		t.Errorf("stops still pending after stop: %s", b)
	}
}
