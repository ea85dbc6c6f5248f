package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
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
