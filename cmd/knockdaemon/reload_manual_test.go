package main

import (
	"strings"
	"testing"
)

// TestManualListsWhatReloadRefuses: the SIGHUP entry names every setting
// whose change daemon/reload.go's restartOnly refuses (keep the two in
// step): window is part of the replay cache's configuration and
// knocktimeout of the tracker's.
func TestManualListsWhatReloadRefuses(t *testing.T) {
	_, rest, _ := strings.Cut(manual, ".B SIGHUP\n")
	section, _, _ := strings.Cut(rest, "\n.TP")
	for _, name := range []string{
		"replay", "replayfile", "window", "fwknopage",
		"maxsources", "maxactive", "knocktimeout",
		"metrics", "logformat", "logto", "test",
		"opencommand", "closecommand", "commandtimeout",
	} {
		if !strings.Contains(section, name) {
			t.Errorf("the SIGHUP section does not say that changing %s needs a restart", name)
		}
	}
}
