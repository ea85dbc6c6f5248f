package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock/internal/manpage"
	"github.com/portknock/knock/internal/version"
)

func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, nil)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := runArgs(t, "-h")
	if code != 0 || !strings.Contains(out, "usage: knocklab [-listen 127.0.0.1:8080]") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestBadCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-port", "80"}, "flag provided but not defined: -port"},
		{[]string{"0.0.0.0:80"}, `unexpected argument "0.0.0.0:80": did you mean -listen 0.0.0.0:80?`},
		{[]string{"-listen", "127.0.0.1:99999"}, "invalid port"},
	} {
		code, _, errOut := runArgs(t, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want it to contain %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestMan: -man prints knocklab.1 as text, with no roff left in it.
func TestMan(t *testing.T) {
	code, out, _ := runArgs(t, "-man")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"KNOCKLAB(1)", "\nSYNOPSIS\n", "       -listen addr\n", "POST /api/encode",
		"curl -s http://127.0.0.1:8080/api/decode -d minport=745", "decryption oracle",
		"\nTHE SEALED KNOCK\n", "POST /api/keygen", "authentication failed", "-d mode=sealed"} {
		if !strings.Contains(out, want) {
			t.Errorf("manual lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`(?m)^\.[A-Za-z]|\\f|\\-`).FindString(out); m != "" {
		t.Errorf("manual has roff left in it: %q\n%s", m, out)
	}
	for i, line := range strings.Split(out, "\n") {
		if len([]rune(line)) > 80 {
			t.Errorf("line %d is %d wide: %q", i+1, len(line), line)
		}
	}
}

func TestManUnknownRequest(t *testing.T) {
	if _, err := manpage.Render("knocklab.1", ".TH X 1\n.SH NAME\n.UR https://example.org\n"); err == nil || !strings.Contains(err.Error(), "knocklab.1:3: request .UR") {
		t.Fatalf("err = %v, want one naming line 3 and .UR", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:80": true, "127.1.2.3:1": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "192.0.2.1:80": false,
		"lab.example:80": false, "nonsense": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestWarnsBeyondLoopback: asked for another address, knocklab warns
// before it listens. 192.0.2.1 is a documentation address no interface
// here has, so the listen itself fails and nothing is exposed.
func TestWarnsBeyondLoopback(t *testing.T) {
	code, _, errOut := runArgs(t, "-listen", "192.0.2.1:0")
	if code != 1 || !strings.Contains(errOut, "warning: listening on 192.0.2.1:0") || !strings.Contains(errOut, "decryption oracle") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if code, _, errOut := runArgs(t, "-listen", "127.0.0.1:-1"); strings.Contains(errOut, "warning") {
		t.Errorf("exit %d: warned about loopback:\n%s", code, errOut)
	}
}

// TestServe: the lab answers on the address it reports, and stops
// cleanly when its context ends.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	var errOut bytes.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0"}, io.Discard, &errOut, func(a net.Addr) { addr <- a })
	}()
	a := <-addr
	resp, err := http.Get("http://" + a.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET /: %s, headers %v", resp.Status, resp.Header)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d\n%s", code, &errOut)
	}
	if !strings.Contains(errOut.String(), "msg=stopped") || strings.Contains(errOut.String(), "warning") {
		t.Errorf("stderr:\n%s", &errOut)
	}
}

// TestSignal: the real binary shuts down gracefully on SIGTERM and on
// SIGINT, exiting 0.
func TestSignal(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "knocklab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stderr)
			url := waitForURL(t, cmd, lines)
			if resp, err := http.Get(url + "api"); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /api: %v %v", resp, err)
			}
			cmd.Process.Signal(sig)
			var rest strings.Builder
			for lines.Scan() {
				rest.WriteString(lines.Text() + "\n")
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("exit: %v\n%s", err, &rest)
			}
			if !strings.Contains(rest.String(), "msg=stopped") {
				t.Errorf("stderr after the signal:\n%s", &rest)
			}
		})
	}
}

var servingURL = regexp.MustCompile(`url=(http://127\.0\.0\.1:[0-9]+/)`)

// waitForURL reads stderr until knocklab says where it serves; a knocklab
// that never does is killed, which ends the reading.
func waitForURL(t *testing.T, cmd *exec.Cmd, lines *bufio.Scanner) string {
	t.Helper()
	deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for lines.Scan() {
		if m := servingURL.FindStringSubmatch(lines.Text()); m != nil {
			return m[1]
		}
	}
	t.Fatal("knocklab exited, or was killed after 30s, before saying where it serves")
	return ""
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"-version", "--version"} {
		code, out, errOut := runArgs(t, arg)
		if want := "knocklab " + version.String() + " (" + runtime.Version() + ")\n"; code != 0 || out != want || errOut != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0, %q", arg, code, out, errOut, want)
		}
	}
}
