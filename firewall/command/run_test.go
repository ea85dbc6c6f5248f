package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

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
