// Package examples holds the configuration files and systemd unit the
// README and the manuals point to; this test keeps them loading.
package examples

import (
	"testing"

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
