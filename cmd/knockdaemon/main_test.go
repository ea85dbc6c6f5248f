package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/portknock/knock/internal/manpage"
	"github.com/portknock/knock/internal/version"
	"github.com/portknock/knock/settings"
)

// Every setting the daemon reads has an entry in its manual.
func TestManualCoversEverySetting(t *testing.T) {
	text, err := manpage.Render("knockdaemon.8", manual)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range settings.Params(settings.Daemon) {
		if p.Name == "h" {
			continue
		}
		if !strings.Contains(text, p.Name) {
			t.Errorf("the manual never mentions %q (%s)", p.Name, p.Help)
		}
	}
}

func TestUsageAndManual(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "usage: knockdaemon") {
		t.Fatalf("-h: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"-man"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "SIGHUP") {
		t.Fatalf("-man: %d", code)
	}
}

func TestConfigErrorExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.conf")
	os.WriteFile(path, []byte("key k\nprotected tcp/99999\n"), 0o600)
	var out, errb bytes.Buffer
	code := run([]string{"-conf", path}, &out, &errb)
	if code != exitConfig || !strings.Contains(errb.String(), path+":2: protected") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func TestDecodeExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.conf")
	os.WriteFile(path, []byte("key knock\nportspan 745-1000\nreplay no\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"-conf", path, "-decode", "966 914 795 964 831 862 807 932"}, &out, &errb); code != exitOK ||
		!strings.Contains(out.String(), `"verdict":"open tcp/22 to 142.103.205.1 for 15m0s"`) {
		t.Fatalf("exit %d, out %q, err %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"-conf", path, "-decode", "966 914 795"}, &out, &errb); code != exitRefused || !strings.Contains(out.String(), `"reason":"length"`) {
		t.Fatalf("exit %d, out %q", code, out.String())
	}
}

// -version answers before any configuration is read: a broken file named
// by -conf is not an error.
func TestVersion(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "broken.conf")
	if err := os.WriteFile(broken, []byte("this is not = a <valid configuration\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "knockdaemon " + version.String() + " (" + runtime.Version() + ")\n"
	for _, args := range [][]string{{"-version"}, {"--version"}, {"-conf", broken, "-version"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 || out.String() != want || errb.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 0, %q", args, code, out.String(), errb.String(), want)
		}
	}
}
