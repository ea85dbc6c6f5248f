package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"module version", debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}}, "v0.9.0"},
		{"pseudo-version", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261204211900-0123456789ab+dirty"}}, "v0.0.0-20261204211900-0123456789ab+dirty"},
		{"no version, no vcs", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"empty", debug.BuildInfo{}, "devel"},
		{"vcs clean", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "64da9d2aa1b2c3d4e5f60718293a4b5c6d7e8f90"},
			{Key: "vcs.modified", Value: "false"},
		}}, "devel-64da9d2aa1b2"},
		{"vcs dirty", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "64da9d2aa1b2c3d4e5f60718293a4b5c6d7e8f90"},
			{Key: "vcs.modified", Value: "true"},
		}}, "devel-64da9d2aa1b2+dirty"},
		{"short revision", debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}}, "devel-abc"},
	}
	for _, tt := range tests {
		if got := fromBuildInfo(&tt.bi); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLinkTimeVersionWins(t *testing.T) {
	old := Version
	t.Cleanup(func() { Version = old })
	Version = "0.9.0"
	if got, want := Line("knockdaemon"), "knockdaemon 0.9.0 ("+runtime.Version()+")"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestStringNeverEmpty(t *testing.T) {
	if String() == "" {
		t.Fatal("empty version")
	}
}
