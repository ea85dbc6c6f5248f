package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
)

// TestMain lets the test binary serve as a command: "knock-helper-argv
// FILE ARGS..." writes ARGS to FILE as JSON; "knock-helper-append FILE
// ARGS..." appends them to FILE as a line.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && strings.HasPrefix(os.Args[1], "knock-helper-") {
		os.Exit(helper(os.Args[1], os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

func helper(mode, file string, args []string) int {
	var err error
	switch mode {
	case "knock-helper-argv":
		data, _ := json.Marshal(args)
		err = os.WriteFile(file, data, 0o644)
	case "knock-helper-append":
		var f *os.File
		if f, err = os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, err = fmt.Fprintln(f, strings.Join(args, " "))
			f.Close()
		}
	default:
		err = fmt.Errorf("unknown helper %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helperCmd is the start of a template running the test binary as helper.
func helperCmd(t *testing.T, mode string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return "'" + exe + "' knock-helper-" + mode
}

var client = netip.MustParseAddr("192.0.2.1")

func grant(a netip.Addr, d time.Duration) firewall.Grant {
	return firewall.Grant{Addr: a, Proto: knock.TCP, Port: 22, Duration: d}
}

func newBackend(t testing.TB, cfg Config) (*Backend, *fakeClock) {
	t.Helper()
	clock := &fakeClock{}
	cfg.Clock = clock
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, clock
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readLines returns the lines the append helper wrote to path.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}
