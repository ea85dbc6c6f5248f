// Package examples holds the configuration files, systemd unit and
// Prometheus alert rules the README and the manuals point to; these tests
// keep them loading.
package examples

import (
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/settings"
)

func TestExamplesLoad(t *testing.T) {
	for _, tc := range []struct {
		file string
		prog settings.Program
	}{
		{"knockdaemon.conf", settings.Daemon},
		{"knockclient.conf", settings.Client},
		{"knockclient-legacy.conf", settings.Client},
	} {
		s, err := settings.Load(tc.prog, []string{"-conf", tc.file}, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if _, err := s.Span(); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
		if m, _ := s.Mode(); m == settings.ModeLegacy {
			if _, err := s.LegacyCodec(); err != nil {
				t.Errorf("%s: %v", tc.file, err)
			}
		}
	}
	if _, err := settings.Load(settings.Client, []string{"-conf", "knockclient.conf", "-profile", "office"}, nil); err != nil {
		t.Errorf("profile office: %v", err)
	}
}

// The example alert rules load in Prometheus and fire on the series they
// are written for.
func TestAlertRules(t *testing.T) {
	promtool := testenv.NeedCommand(t, "promtool", "apt-get install prometheus")
	for _, args := range [][]string{
		{"check", "rules", "knockdaemon.rules.yml"},
		{"test", "rules", "testdata/rules_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestLegacyExampleNeverReplays: the legacy example draws a fresh IV for
// every knock, so two knocks differ and a daemon with replay protection
// (here given the same file, as "both ends") does not warn that every
// knock is the same sequence.
func TestLegacyExampleNeverReplays(t *testing.T) {
	s, err := settings.Load(settings.Client, []string{"-conf", "knockclient-legacy.conf"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := s.LegacyCodec()
	if err != nil {
		t.Fatal(err)
	}
	v := legacy.Values{Client: netip.MustParseAddr("142.103.205.1"), Port: 22, Flags: map[int]int{0: 15}}
	a, err := codec.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := codec.Encode(v)
	if slices.Equal(a, b) {
		t.Errorf("two knocks of the legacy example are the same sequence %v: the second is a replay", a)
	}
	ds, err := settings.Load(settings.Daemon, []string{"-conf", "knockclient-legacy.conf", "-mode", "legacy"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := daemon.Load(ds)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Warnings {
		if strings.Contains(w, "same sequence") {
			t.Errorf("daemon warns: %s", w)
		}
	}
}
