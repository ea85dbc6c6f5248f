package settings

import (
	"testing"
	"time"
)

// TestParseDuration: every unit the manuals list (s, m, h, d) and bare
// numbers in the parameter's unit; anything else is refused.
func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		unit time.Duration
		want time.Duration
		ok   bool
	}{
		{"15", time.Minute, 15 * time.Minute, true},
		{"0.5", time.Second, 500 * time.Millisecond, true},
		{" 90s ", time.Minute, 90 * time.Second, true},
		{"2m", time.Second, 2 * time.Minute, true},
		{"2h", time.Minute, 2 * time.Hour, true},
		{"1h30m", time.Minute, 90 * time.Minute, true},
		{"2d", time.Minute, 48 * time.Hour, true},
		{"1d12h", time.Minute, 36 * time.Hour, true},
		{"1.5d", time.Minute, 36 * time.Hour, true},
		{"500ms", time.Second, 500 * time.Millisecond, true},
		{"0", time.Minute, 0, true},
		{"-2d", time.Minute, 0, false},
		{"-5", time.Minute, 0, false},
		{"d", time.Minute, 0, false},
		{"2dd", time.Minute, 0, false},
		{"2d-1h", time.Minute, 0, false},
		{"2d+1h", time.Minute, 0, false},
		{"1e3d", time.Minute, 0, false},
		{"infd", time.Minute, 0, false},
		{"0x1p1d", time.Minute, 0, false},
		{"99999999d", time.Minute, 0, false},
		{"2w", time.Minute, 0, false},
		{"two", time.Minute, 0, false},
		{"", time.Minute, 0, false},
	} {
		got, err := ParseDuration(tc.in, tc.unit)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestDurationSettingInDays: "maxduration = 2d" loads, as the manual says.
func TestDurationSettingInDays(t *testing.T) {
	s, err := Load(Daemon, []string{"-maxduration", "2d"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Duration("maxduration"); d != 48*time.Hour {
		t.Fatalf("maxduration %v", d)
	}
}

// TestHelpSpelledLong: --help and -help are -h, for both commands.
func TestHelpSpelledLong(t *testing.T) {
	for _, prog := range []Program{Client, Daemon} {
		for _, a := range []string{"--help", "-help", "-h", "--h"} {
			s, err := Load(prog, []string{a}, nil)
			if err != nil || !s.Bool("h") {
				t.Errorf("%s %s: %v", progName(prog), a, err)
			}
		}
	}
}
