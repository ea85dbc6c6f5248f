// Package examples holds the configuration files, systemd unit and
// Prometheus alert rules the README and the manuals point to; these tests
// keep them loading.
package examples

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/portknock/knock/internal/testenv"
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
