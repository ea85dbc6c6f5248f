package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/internal/version"
)

// The README's first command must work: both stories, start to end.
func TestLogFileStory(t *testing.T) {
	var out strings.Builder
	s := &story{out: &out, start: time.Now(), grant: time.Second}
	if err := s.logFile(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"tcp/22 closed to everyone", "knock accepted", "192.0.2.7 may connect to tcp/22"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the story lacks %q:\n%s", want, out.String())
		}
	}
}

func TestNetworkStory(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "nft", "apt-get install nftables")
	var out strings.Builder
	s := &story{out: &out, start: time.Now(), grant: time.Second}
	if err := s.network(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"the port is closed", "knock accepted", "connected,", "after the grant: the port is closed", "namespaces removed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the story lacks %q:\n%s", want, out.String())
		}
	}
}

// -version and --version print the version line and exit 0, before any
// namespace or story: the test binary runs main as knockdemo would.
func TestVersion(t *testing.T) {
	if os.Getenv("KNOCKDEMO_MAIN") != "" {
		os.Args = []string{"knockdemo", os.Getenv("KNOCKDEMO_MAIN")}
		main()
		return
	}
	for _, arg := range []string{"-version", "--version"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestVersion$")
		cmd.Env = append(os.Environ(), "KNOCKDEMO_MAIN="+arg)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if want := "knockdemo " + version.String() + " (" + runtime.Version() + ")\n"; !strings.HasPrefix(string(out), want) {
			t.Errorf("%s printed %q, want %q first", arg, out, want)
		}
	}
}

// One knock at gate-a opens three gates sharing a Redis; the same knock
// sent to gate-b is refused there as a replay.
func TestFleetStory(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "nft", "apt-get install nftables")
	testenv.NeedCommand(t, "redis-server", "apt-get install redis-server")
	var out strings.Builder
	s := &story{out: &out, start: time.Now(), grant: 2 * time.Second}
	if err := s.fleet(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		"(gate-a) ... no answer within 0.3 s before any knock", "(gate-b) ... no answer within 0.3 s before any knock", "(gate-c) ... no answer within 0.3 s before any knock",
		"gate-a: msg=\"knock accepted\"",
		"(gate-a) ... connected", "(gate-b) ... connected", "(gate-c) ... connected",
		"gate-b: level=WARN msg=\"knock rejected\" protocol=sealed reason=replay", "gate-b refused the replay",
		"(gate-a) ... no answer within 0.3 s after the grant", "(gate-b) ... no answer within 0.3 s after the grant", "(gate-c) ... no answer within 0.3 s after the grant",
		"redis-server stopped", "namespaces removed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the story lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "gate-b: msg=\"knock accepted\"") {
		t.Errorf("gate-b accepted a knock:\n%s", out.String())
	}
}

// Without root, -fleet says that it needs root and exits 1. As root the
// test binary runs main as nobody.
func TestFleetNeedsRoot(t *testing.T) {
	if os.Getenv("KNOCKDEMO_FLEET") != "" {
		os.Args = []string{"knockdemo", "-fleet"}
		main()
		return
	}
	exe := os.Args[0]
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		dir := t.TempDir()
		os.Chmod(dir, 0o755)
		os.Chmod(filepath.Dir(dir), 0o755) // the test's own, made 0700
		exe = filepath.Join(dir, "knockdemo.test")
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
		for d := filepath.Dir(filepath.Dir(dir)); d != "/"; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
				t.Skipf("nobody cannot reach %s", d)
			}
		}
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	cmd := exec.Command(exe, "-test.run=^TestFleetNeedsRoot$")
	cmd.Env = append(os.Environ(), "KNOCKDEMO_FLEET=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("knockdemo -fleet without root: %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "knockdemo: -fleet needs root") {
		t.Errorf("knockdemo -fleet without root said %q", out)
	}
}
