package knockd

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// confVector is one file of testdata/conf (see gen.go there).
type confVector struct {
	name, path, text string
	want             string // "ok" or "line N: text"
	knockd           string // "accepts" or "refuses"
}

func confVectors(tb testing.TB) []confVector {
	tb.Helper()
	files, err := filepath.Glob("testdata/conf/*.conf")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no vectors in testdata/conf (err %v)", err)
	}
	var out []confVector
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		v := confVector{name: strings.TrimSuffix(filepath.Base(f), ".conf"), path: f, text: string(b)}
		for _, line := range strings.Split(v.text, "\n") {
			if w, ok := strings.CutPrefix(line, "# want: "); ok {
				v.want = w
			}
			if k, ok := strings.CutPrefix(line, "# knockd: "); ok {
				v.knockd = k
			}
		}
		if v.want == "" || v.knockd == "" {
			tb.Fatalf("%s: no # want: or # knockd: line", f)
		}
		out = append(out, v)
	}
	return out
}

func TestConfVectors(t *testing.T) {
	for _, v := range confVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			c, err := Parse(v.path)
			if v.want == "ok" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if len(c.Doors) == 0 {
					t.Fatal("no doors")
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted it, want %q", v.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v is not ErrConfig", err)
			}
			line, text, _ := strings.Cut(v.want, ": ")
			if !strings.Contains(err.Error(), v.path+":"+strings.TrimPrefix(line, "line ")+": ") {
				t.Errorf("error %q does not name %s", err, line)
			}
			if !strings.Contains(err.Error(), text) {
				t.Errorf("error %q does not say %q", err, text)
			}
		})
	}
}

func TestParseFull(t *testing.T) {
	c, err := Parse("testdata/conf/ok-full.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !c.UseSyslog || c.LogFile != "/var/log/knockd.log" || c.PidFile != "/run/knockd.pid" || c.Interface != "eth1" {
		t.Errorf("options: %+v", c)
	}
	if len(c.Doors) != 2 {
		t.Fatalf("%d doors", len(c.Doors))
	}
	d := c.Doors[0]
	want := []Step{{TCP, 7000}, {UDP, 8000}, {TCP, 9000}}
	if d.Name != "openSSH" || d.Pos.Line != 10 || !equalSteps(d.Sequence, want) {
		t.Errorf("door: %q at %v, %v", d.Name, d.Pos, d.Sequence)
	}
	if d.SeqTimeout != 5*time.Second || d.CmdTimeout != 30*time.Second || d.Flags != (Flags{Set: SYN, Clear: ACK}) {
		t.Errorf("door: %v %v %+v", d.SeqTimeout, d.CmdTimeout, d.Flags)
	}
	if d.Target != netip.MustParseAddr("192.0.2.1") || !d.HasStop || !d.HasStart6 || !d.HasStop6 {
		t.Errorf("door: %+v", d)
	}
	start, stop, has := d.Commands(netip.MustParseAddr("2001:db8::7"))
	if !strings.HasPrefix(start, "/sbin/ip6tables -A") || !strings.HasPrefix(stop, "/sbin/ip6tables -D") || !has {
		t.Errorf("v6 commands: %q %q %v", start, stop, has)
	}
	start, _, _ = d.Commands(netip.MustParseAddr("192.0.2.9"))
	if !strings.HasPrefix(start, "/sbin/iptables -A") {
		t.Errorf("v4 start: %q", start)
	}
	e := c.Doors[1]
	if e.SeqTimeout != 10*time.Second || e.CmdTimeout != DefaultCmdTimeout || e.HasStop {
		t.Errorf("second door: %+v", e)
	}
	// A v6 source without _6 commands falls back to the v4 ones.
	if start, _, has := e.Commands(netip.MustParseAddr("2001:db8::7")); start != "true" || has {
		t.Errorf("fallback: %q %v", start, has)
	}
}

func TestParseGrant(t *testing.T) {
	c, err := Parse("testdata/conf/ok-grant.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := []Grant{{TCP, 22}, {UDP, 53}}
	if g := c.Doors[0].Grants; len(g) != 2 || g[0] != want[0] || g[1] != want[1] {
		t.Errorf("grants %v, want %v", g, want)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := ParseText("x.conf", "[d]\nsequence=1\n")
	if err != nil {
		t.Fatal(err)
	}
	d := c.Doors[0]
	if c.PidFile != DefaultPidFile || c.Interface != "" || d.SeqTimeout != DefaultSeqTimeout || d.CmdTimeout != DefaultCmdTimeout || d.Flags != (Flags{}) {
		t.Errorf("defaults: %+v %+v", c, d)
	}
}

func TestFlagsMatch(t *testing.T) {
	for _, tc := range []struct {
		conf  string
		flags uint8
		want  bool
	}{
		{"syn", SYN, true},
		{"syn", SYN | ACK, true},
		{"syn", ACK, false},
		{"syn,!ack", SYN | ACK, false},
		{"syn,!ack", SYN | FIN, true},
		{"!syn", ACK, true},
		{"!syn", SYN, false},
		{"fin,psh,urg", FIN | PSH | URG, true},
		{"fin,psh,urg", FIN | PSH, false},
		{"syn,!syn", SYN, false}, // the last word wins
		{"!rst,rst", RST, true},
	} {
		var f Flags
		if err := f.parse(tc.conf); err != nil {
			t.Fatal(err)
		}
		if got := f.Match(tc.flags); got != tc.want {
			t.Errorf("TCPFlags = %s on %#x: %v, want %v", tc.conf, tc.flags, got, tc.want)
		}
	}
}

func equalSteps(a, b []Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzParse(f *testing.F) {
	for _, v := range confVectors(f) {
		f.Add(v.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseText("fuzz.conf", text)
		if err != nil {
			if !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), "fuzz.conf:") {
				t.Fatalf("error without position: %v", err)
			}
			return
		}
		for _, d := range c.Doors {
			if d.OneTime == "" && (len(d.Sequence) == 0 || len(d.Sequence) > MaxSteps) {
				t.Fatalf("door %q with %d steps accepted", d.Name, len(d.Sequence))
			}
			for _, s := range d.Sequence {
				if s.Port == 0 || (s.Proto != TCP && s.Proto != UDP) {
					t.Fatalf("step %v accepted", s)
				}
			}
		}
	})
}

// TestErrorsKeepSequencesSecret: a line Parse cannot read may be a
// sequence; its error quotes the first word only.
func TestErrorsKeepSequencesSecret(t *testing.T) {
	for _, conf := range []string{
		"sequence 7000,8123,9000\n",
		"[d]\nsequence 7000,8123,9000\n",
		"[d]\nsequence = " + strings.Repeat("8123,", 33) + "1\n",
	} {
		_, err := ParseText("x.conf", conf)
		if err == nil || strings.Contains(err.Error(), "8123") {
			t.Errorf("%q: error %v", conf, err)
		}
	}
	if c, err := Parse("testdata/conf/ok-minimal.conf"); err != nil || c.Mode == 0 {
		t.Errorf("mode %v (%v)", c.Mode, err)
	}
}
