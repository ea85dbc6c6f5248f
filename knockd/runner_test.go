package knockd_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/knockd"
	"github.com/portknock/knock/knockd/knockdtest"
)

var epoch = time.Unix(2_000_000, 0)

func door(t *testing.T, conf string) *knockd.Door {
	t.Helper()
	c, err := knockd.ParseText("test.conf", "[ssh]\nsequence = 1\n"+conf)
	if err != nil {
		t.Fatal(err)
	}
	return c.Doors[0]
}

func expectRan(t *testing.T, e *knockdtest.Exec, want string) {
	t.Helper()
	select {
	case got := <-e.Ran:
		if got != want {
			t.Errorf("ran %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%q never ran", want)
	}
}

func expectNothing(t *testing.T, e *knockdtest.Exec) {
	t.Helper()
	select {
	case got := <-e.Ran:
		t.Errorf("ran %q, want nothing", got)
	default:
	}
}

func expectScheduled(t *testing.T, c *knockdtest.Clock, want time.Duration) {
	t.Helper()
	select {
	case d := <-c.Scheduled:
		if d != want {
			t.Errorf("stop in %v, want %v", d, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no stop scheduled")
	}
}

func newRunner(t *testing.T, state string) (*knockd.Runner, *knockdtest.Exec, *knockdtest.Clock) {
	t.Helper()
	e, c := knockdtest.NewExec(), knockdtest.NewClock(epoch)
	r, err := knockd.NewRunner(knockd.RunnerConfig{Exec: e, Clock: c, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	return r, e, c
}

func TestRunnerStartThenStop(t *testing.T) {
	state := filepath.Join(t.TempDir(), "pending")
	r, e, c := newRunner(t, state)
	d := door(t, "start_command = open %IP% %IP%\ncmd_timeout = 30\nstop_command = close %IP%\n")
	src := netip.MustParseAddr("192.0.2.7")
	if err := r.Open(knockd.Event{Door: d, Src: src}); err != nil {
		t.Fatal(err)
	}
	expectRan(t, e, "open 192.0.2.7 192.0.2.7")
	expectScheduled(t, c, 30*time.Second)
	lost, err := knockd.LostStops(state)
	if err != nil || len(lost) != 1 || lost[0].Command != "close 192.0.2.7" || lost[0].Source != src || lost[0].Door != "ssh" || !lost[0].Due.Equal(epoch.Add(30*time.Second)) {
		t.Fatalf("pending stops %+v (%v)", lost, err)
	}
	c.Advance(29 * time.Second)
	expectNothing(t, e)
	c.Advance(time.Second)
	expectRan(t, e, "close 192.0.2.7")
	if lost, _ := knockd.LostStops(state); len(lost) != 0 {
		t.Errorf("pending after the stop ran: %+v", lost)
	}
	r.Close()
	expectNothing(t, e)
}

func TestRunnerIPv6Commands(t *testing.T) {
	r, e, c := newRunner(t, "")
	d := door(t, "start_command = open4 %IP%\nstart_command_6 = open6 %IP%\nstop_command = close4 %IP%\n")
	if err := r.Open(knockd.Event{Door: d, Src: netip.MustParseAddr("2001:db8::7")}); err != nil {
		t.Fatal(err)
	}
	expectRan(t, e, "open6 2001:db8::7")
	expectScheduled(t, c, knockd.DefaultCmdTimeout)
	c.Advance(knockd.DefaultCmdTimeout)
	expectRan(t, e, "close4 2001:db8::7") // no Stop_Command_6: the IPv4 one, as knockd
	r.Close()
}

func TestRunnerNothingToRun(t *testing.T) {
	r, e, _ := newRunner(t, "")
	// No start command: not even the stop runs.
	if err := r.Open(knockd.Event{Door: door(t, "stop_command = close\n"), Src: netip.MustParseAddr("192.0.2.7")}); err != nil {
		t.Fatal(err)
	}
	// Too long once %IP% is in: knockd runs neither.
	long := door(t, "start_command = "+strings.Repeat("%IP%", 500)+"\n")
	if err := r.Open(knockd.Event{Door: long, Src: netip.MustParseAddr("192.0.2.7")}); !errors.Is(err, knockd.ErrTooLong) {
		t.Errorf("long command: %v", err)
	}
	r.Close()
	expectNothing(t, e)
}

func TestRunnerCloseRunsPendingStops(t *testing.T) {
	state := filepath.Join(t.TempDir(), "pending")
	r, e, c := newRunner(t, state)
	d := door(t, "start_command = open %IP%\ncmd_timeout = 3600\nstop_command = close %IP%\n")
	for _, ip := range []string{"192.0.2.1", "192.0.2.2"} {
		if err := r.Open(knockd.Event{Door: d, Src: netip.MustParseAddr(ip)}); err != nil {
			t.Fatal(err)
		}
		expectRan(t, e, "open "+ip)
		expectScheduled(t, c, time.Hour)
	}
	r.Close()
	got := []string{<-e.Ran, <-e.Ran}
	if !(got[0] == "close 192.0.2.1" && got[1] == "close 192.0.2.2" || got[0] == "close 192.0.2.2" && got[1] == "close 192.0.2.1") {
		t.Errorf("at close ran %q", got)
	}
	if lost, _ := knockd.LostStops(state); len(lost) != 0 {
		t.Errorf("pending after close: %+v", lost)
	}
	if err := r.Open(knockd.Event{Door: d, Src: netip.MustParseAddr("192.0.2.3")}); !errors.Is(err, knockd.ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
	c.Advance(2 * time.Hour)
	expectNothing(t, e)
}

// TestLostStops: a daemon that dies with stops pending leaves them in the
// state file; the next start reads them, then starts afresh.
func TestLostStops(t *testing.T) {
	state := filepath.Join(t.TempDir(), "pending")
	if lost, err := knockd.LostStops(state); err != nil || lost != nil {
		t.Fatalf("no file: %v %v", lost, err)
	}
	r, e, c := newRunner(t, state)
	d := door(t, "start_command = open %IP%\nstop_command = close %IP%\n")
	r.Open(knockd.Event{Door: d, Src: netip.MustParseAddr("192.0.2.1")})
	expectRan(t, e, "open 192.0.2.1")
	expectScheduled(t, c, knockd.DefaultCmdTimeout)
	// The daemon "crashes": r is never closed.
	lost, err := knockd.LostStops(state)
	if err != nil || len(lost) != 1 || lost[0].Command != "close 192.0.2.1" {
		t.Fatalf("lost stops %+v (%v)", lost, err)
	}
	if _, _, err := newRunnerErr(state); err != nil {
		t.Fatal(err)
	}
	if lost, _ := knockd.LostStops(state); len(lost) != 0 {
		t.Errorf("a new runner kept %+v", lost)
	}
	corrupt := filepath.Join(t.TempDir(), "corrupt")
	if err := os.WriteFile(corrupt, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := knockd.LostStops(corrupt); err == nil {
		t.Error("a corrupt state file read without error")
	}
}

func newRunnerErr(state string) (*knockd.Runner, *knockdtest.Exec, error) {
	e := knockdtest.NewExec()
	r, err := knockd.NewRunner(knockd.RunnerConfig{Exec: e, Clock: knockdtest.NewClock(epoch), StateFile: state})
	return r, e, err
}

// TestShell runs real commands through /bin/sh, as knockd's system(3).
func TestShell(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	r, err := knockd.NewRunner(knockd.RunnerConfig{CommandLimit: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := door(t, "start_command = echo \"open $((1+1)) %IP%\" >> "+out+"\ncmd_timeout = 0\nstop_command = echo close %IP% >> "+out+"\n")
	if err := r.Open(knockd.Event{Door: d, Src: netip.MustParseAddr("192.0.2.7")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	want := "open 2 192.0.2.7\nclose 192.0.2.7\n"
	for {
		b, _ := os.ReadFile(out)
		if string(b) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file holds %q, want %q", b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.Close()
}

// TestShellLimit: a command past its limit is killed, with its children.
func TestShellLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := knockd.Shell{}.Run(ctx, "sleep 30 & sleep 30; wait")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the deadline", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the command ran %v past its limit", d)
	}
	if err := (knockd.Shell{}).Run(context.Background(), "exit 3"); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("exit 3: %v", err)
	}
}

// TestRunnerMaxStarts: a flood of opens runs at most MaxStarts start
// commands at once; the others are dropped, stop and all.
func TestRunnerMaxStarts(t *testing.T) {
	e, c := knockdtest.NewExec(), knockdtest.NewClock(epoch)
	e.Hold = make(chan struct{})
	r, err := knockd.NewRunner(knockd.RunnerConfig{Exec: e, Clock: c, MaxStarts: 2})
	if err != nil {
		t.Fatal(err)
	}
	d := door(t, "start_command = open %IP%\nstop_command = close %IP%\n")
	for i, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		err := r.Open(knockd.Event{Door: d, Src: netip.MustParseAddr(ip)})
		if busy := errors.Is(err, knockd.ErrBusy); busy != (i == 2) {
			t.Errorf("open %d: %v", i, err)
		}
	}
	if n := len(r.Pending()); n != 2 {
		t.Errorf("%d stops pending, want 2", n)
	}
	<-e.Ran
	<-e.Ran
	e.Hold <- struct{}{}
	expectScheduled(t, c, knockd.DefaultCmdTimeout)
	if err := r.Open(knockd.Event{Door: d, Src: netip.MustParseAddr("192.0.2.4")}); err != nil {
		t.Errorf("open after one start ended: %v", err)
	}
	close(e.Hold)
	r.Close()
}
