package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	return firewall.Grant{Addr: a, Proto: firewall.TCP, Port: 22, Duration: d}
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

// TestStopAfterDuration: touch opens, rm closes, when the fake clock
// reaches the grant's end and not before.
func TestStopAfterDuration(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "open-192.0.2.1-tcp-22")
	b, clock := newBackend(t, Config{
		Start: "touch " + dir + "/open-%IP%-%PROTO%-%PORT%",
		Stop:  "rm " + dir + "/open-%IP%-%PROTO%-%PORT%",
	})
	if err := b.Open(context.Background(), grant(client, 15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !exists(flag) {
		t.Fatal("start command did not run")
	}
	clock.Advance(15*time.Minute - time.Nanosecond)
	if !exists(flag) {
		t.Fatal("stop command ran before the grant's end")
	}
	clock.Advance(time.Nanosecond)
	if exists(flag) {
		t.Fatal("stop command did not run at the grant's end")
	}
	if p := b.Pending(); len(p) != 0 {
		t.Fatalf("Pending = %+v after the stop ran", p)
	}
}

// TestReopenReschedules: opening the same grant again moves its stop.
func TestReopenReschedules(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	b, clock := newBackend(t, Config{
		Start: helperCmd(t, "append") + " " + log + " start %IP% %TIME%",
		Stop:  helperCmd(t, "append") + " " + log + " stop %IP% %TIME%",
	})
	ctx := context.Background()
	if err := b.Open(ctx, grant(client, 15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	if err := b.Open(ctx, grant(client, 15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	if got := readLines(t, log); len(got) != 2 {
		t.Fatalf("log = %q: the first stop was not cancelled", got)
	}
	clock.Advance(5 * time.Minute)
	want := []string{"start 192.0.2.1 15", "start 192.0.2.1 15", "stop 192.0.2.1 15"}
	if got := readLines(t, log); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	if clock.Waiting() != 0 {
		t.Fatalf("%d timers left", clock.Waiting())
	}
}

// TestCloseAtOnce: Close runs the stop command now and cancels the timer;
// closing again still runs it (the grant may predate a restart).
func TestCloseAtOnce(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	b, clock := newBackend(t, Config{
		Start: helperCmd(t, "append") + " " + log + " start %IP%",
		Stop:  helperCmd(t, "append") + " " + log + " stop %IP% %SECONDS%",
	})
	ctx := context.Background()
	if err := b.Open(ctx, grant(client, 90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx, grant(client, 0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx, grant(client, 0)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	want := []string{"start 192.0.2.1", "stop 192.0.2.1 90", "stop 192.0.2.1 0"}
	if got := readLines(t, log); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
}

// TestCloseFailureKeepsStop: a stop command that fails on Close is still
// scheduled for the grant's end.
func TestCloseFailureKeepsStop(t *testing.T) {
	b, _ := newBackend(t, Config{Start: "true", Stop: "false"})
	ctx := context.Background()
	if err := b.Open(ctx, grant(client, time.Minute)); err != nil {
		t.Fatal(err)
	}
	var re *RunError
	if err := b.Close(ctx, grant(client, 0)); !errors.As(err, &re) || re.Template != "stop" {
		t.Fatalf("Close = %v, want a RunError of the stop command", err)
	}
	if p := b.Pending(); len(p) != 1 {
		t.Fatalf("Pending = %+v, want the stop still scheduled", p)
	}
}

// TestShutdownRunsPending: Shutdown runs every pending stop and refuses
// new grants.
func TestShutdownRunsPending(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	b, clock := newBackend(t, Config{
		Start: "true",
		Stop:  helperCmd(t, "append") + " " + log + " stop %IP% %PROTO%/%PORT%",
	})
	ctx := context.Background()
	other := netip.MustParseAddr("2001:db8::7")
	for _, g := range []firewall.Grant{grant(other, time.Hour), grant(client, time.Minute)} {
		if err := b.Open(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"stop 192.0.2.1 tcp/22", "stop 2001:db8::7 tcp/22"}
	if got := readLines(t, log); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	if err := b.Open(ctx, grant(client, time.Minute)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Open after Shutdown = %v, want ErrShutdown", err)
	}
	clock.Advance(2 * time.Hour)
	if got := readLines(t, log); len(got) != 2 {
		t.Fatalf("stops ran again after Shutdown: %q", got)
	}
}

// TestFieldsStayLiteral: knock fields full of shell syntax arrive as
// single literal arguments, and nothing they name is run.
func TestFieldsStayLiteral(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "argv")
	b, _ := newBackend(t, Config{
		Start:  helperCmd(t, "argv") + " " + out + ` %CLIENT% --flag=%FLAG0% %EVIL% "%IP% %PORT%"`,
		Stop:   "true",
		Fields: []string{"CLIENT", "flag0", "Evil"},
	})
	g := grant(client, time.Minute)
	g.Fields = map[string]string{
		"client": "x; rm -rf /",
		"flag0":  "$(touch " + dir + "/pwned)",
		"evil":   "`touch " + dir + "/pwned2` && echo \"'",
	}
	if err := b.Open(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"x; rm -rf /", "--flag=" + g.Fields["flag0"], g.Fields["evil"], "192.0.2.1 22"}
	if !slices.Equal(got, want) {
		t.Fatalf("argv = %q, want %q", got, want)
	}
	if exists(dir+"/pwned") || exists(dir+"/pwned2") {
		t.Fatal("a field was run as a command")
	}
}

// TestRefusedValue: a field that would pass for an option is refused
// before anything runs, and nothing is scheduled.
func TestRefusedValue(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "ran")
	b, clock := newBackend(t, Config{Start: "touch " + flag + " %FLAG0%", Stop: "true", Fields: []string{"flag0"}})
	g := grant(client, time.Minute)
	g.Fields = map[string]string{"flag0": "--reference=/etc/shadow"}
	if err := b.Open(context.Background(), g); !errors.Is(err, ErrValue) {
		t.Fatalf("Open = %v, want ErrValue", err)
	}
	g.Fields = nil
	if err := b.Open(context.Background(), g); !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), "%FLAG0%") {
		t.Fatalf("Open without the field = %v, want ErrValue naming %%FLAG0%%", err)
	}
	if exists(flag) || clock.Waiting() != 0 {
		t.Fatal("something ran or was scheduled")
	}
}

// TestHangKilled: a command that outlives its limit is killed with its
// whole process group, and the stop is still scheduled, since the start
// may have half-opened access.
func TestHangKilled(t *testing.T) {
	dir := t.TempDir()
	b, clock := newBackend(t, Config{
		Start:   `/bin/sh -c 'echo $$ >` + dir + `/leader; sleep 60 & echo $! >` + dir + `/child; wait'`,
		Stop:    "true",
		Timeout: 300 * time.Millisecond,
	})
	err := b.Open(context.Background(), grant(client, time.Minute))
	var re *RunError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &re) {
		t.Fatalf("Open = %v, want a RunError wrapping ErrTimeout", err)
	}
	for _, name := range []string{"leader", "child"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if pid := strings.TrimSpace(string(data)); !gone(pid) {
			t.Errorf("%s process %s still running after the limit", name, pid)
		}
	}
	if clock.Waiting() != 1 || len(b.Pending()) != 1 {
		t.Fatal("no stop scheduled after a failed start")
	}
}

// gone reports whether a process has ended (a zombie has), waiting a
// little for the kernel to deliver the kill.
func gone(pid string) bool {
	for range 100 {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return true
		}
		if _, rest, ok := strings.Cut(string(stat), ") "); ok && strings.HasPrefix(rest, "Z") {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestExitStatus: a non-zero exit is an error quoting the command and its
// stderr, and the log has both outputs.
func TestExitStatus(t *testing.T) {
	var logs bytes.Buffer
	b, _ := newBackend(t, Config{
		Start: `/bin/sh -c 'echo out; echo boom >&2; exit 3'`,
		Stop:  "true",
		Log:   slog.New(slog.NewTextHandler(&logs, nil)),
	})
	err := b.Open(context.Background(), grant(client, time.Minute))
	var re *RunError
	if !errors.As(err, &re) || re.Stderr != "boom\n" {
		t.Fatalf("Open = %#v, want a RunError with stderr \"boom\\n\"", err)
	}
	for _, want := range []string{`start command ["/bin/sh" "-c"`, "exit status 3", `stderr: "boom\n"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	for _, want := range []string{`stdout="out\n"`, `stderr="boom\n"`, "exit status 3"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
}

// TestOutputBounded: a command's output is kept up to the limit.
func TestOutputBounded(t *testing.T) {
	b, _ := newBackend(t, Config{
		Start:     `/bin/sh -c 'head -c 100000 /dev/zero | tr "\0" x >&2; exit 1'`,
		Stop:      "true",
		MaxOutput: 100,
	})
	var re *RunError
	if err := b.Open(context.Background(), grant(client, time.Minute)); !errors.As(err, &re) {
		t.Fatalf("Open = %v, want a RunError", err)
	}
	if want := strings.Repeat("x", 100) + "... (99900 more bytes)"; re.Stderr != want {
		t.Fatalf("stderr kept %d bytes: %.120q", len(re.Stderr), re.Stderr)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Start: "true"}, "stop command template is empty"},
		{Config{Start: " ", Stop: "true"}, "start command template is empty"},
		{Config{Start: "no-such-program-here %IP%", Stop: "true"}, `start command template "no-such-program-here %IP%": program "no-such-program-here"`},
		{Config{Start: "true", Stop: "true %FLAG1%", Fields: []string{"flag0"}}, `stop command template "true %FLAG1%": unknown placeholder %FLAG1% (known: %FLAG0% %IP% %PORT% %PROTO% %SECONDS% %TIME%)`},
		{Config{Start: "true 'x", Stop: "true"}, `start command template "true 'x": unterminated ' quote`},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestValues(t *testing.T) {
	for _, tc := range []struct {
		d             time.Duration
		time, seconds string
	}{
		{15 * time.Minute, "15", "900"},
		{90 * time.Second, "2", "90"},
		{1500 * time.Millisecond, "1", "2"},
		{0, "0", "0"},
	} {
		g := grant(netip.MustParseAddr("::ffff:192.0.2.9"), tc.d)
		g.Fields = map[string]string{"port": "99", "flag0": "7"}
		v := values(g)
		if v["TIME"] != tc.time || v["SECONDS"] != tc.seconds || v["IP"] != "192.0.2.9" || v["PORT"] != "22" || v["FLAG0"] != "7" {
			t.Errorf("values for %s = %v", tc.d, v)
		}
	}
}

func TestBadGrants(t *testing.T) {
	b, _ := newBackend(t, Config{Start: "true", Stop: "true"})
	for _, g := range []firewall.Grant{
		{Proto: firewall.TCP, Port: 22, Duration: time.Minute},
		{Addr: client, Proto: "icmp", Port: 22, Duration: time.Minute},
		{Addr: client, Proto: firewall.UDP, Duration: time.Minute},
		{Addr: client, Proto: firewall.UDP, Port: 53},
	} {
		if err := b.Open(context.Background(), g); !errors.Is(err, ErrBadGrant) {
			t.Errorf("Open(%+v) = %v, want ErrBadGrant", g, err)
		}
	}
}

// TestSystemClock: with the real clock the stop runs by itself.
func TestSystemClock(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "open")
	b, err := New(Config{Start: "touch " + flag, Stop: "rm " + flag})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Open(context.Background(), grant(client, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for exists(flag) || len(b.Pending()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stop command never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
