package logfile

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

var sampleFields = Fields{
	Date:       time.Date(2003, time.November, 22, 10, 30, 0, 0, time.UTC),
	Client:     netip.MustParseAddr("10.1.1.1"),
	Remote:     netip.MustParseAddr("10.1.1.2"),
	ClientPort: 40000,
	RemotePort: 745,
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		template string
		f        Fields
		want     string
	}{
		{DefaultTemplate, sampleFields, "Nov 22 10:30:00 localhost kernel: knock: IN=eth0 OUT= SRC=10.1.1.1 DST=10.1.1.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=TCP SPT=40000 DPT=745 WINDOW=64240 RES=0x00 SYN URGP=0"},
		{"_DATE_|_CLIENT_|_REMOTE_|_CLIENTPORT_|_REMOTEPORT_", Fields{Date: time.Date(2003, 1, 2, 3, 4, 5, 0, time.UTC)}, "Jan  2 03:04:05|||0|0"},
		{"__CLIENT__ _CLIENTPORT _FOO_ _REMOTE_PORT_", sampleFields, "_10.1.1.1_ _CLIENTPORT _FOO_ 10.1.1.2PORT_"},
		{"_REMOTE_ _CLIENT_", Fields{Client: netip.MustParseAddr("2001:db8::1"), Remote: netip.MustParseAddr("::ffff:10.1.1.2")}, "::ffff:10.1.1.2 2001:db8::1"},
		{"", sampleFields, ""},
	} {
		if got := Render(tc.template, tc.f); got != tc.want {
			t.Errorf("Render(%q)\n got  %q\n want %q", tc.template, got, tc.want)
		}
	}
}

func TestPatternFor(t *testing.T) {
	got, err := PatternFor("from _CLIENT_:_CLIENTPORT_ (to _REMOTE_) port _REMOTEPORT_ _CLIENT_")
	want := `^from (?P<src>[0-9A-Fa-f.:]+):[0-9]+ \(to (?P<dst>[0-9A-Fa-f.:]*)\) port (?P<dport>[0-9]+) (?:[0-9A-Fa-f.:]+)$`
	if err != nil || got != want {
		t.Errorf("PatternFor\n got  %s (%v)\n want %s", got, err, want)
	}
	for _, tc := range []struct{ template, want string }{
		{"_REMOTE_ _REMOTEPORT_", `template "_REMOTE_ _REMOTEPORT_" has no _CLIENT_: the daemon needs the client address and the knocked port`},
		{"_CLIENT_ _CLIENTPORT_", `has no _REMOTEPORT_`},
		{"_CLIENT__REMOTEPORT_", `template "_CLIENT__REMOTEPORT_": _CLIENT_ and _REMOTEPORT_ touch: put text between them`},
		{"_DATE__CLIENT_ _REMOTEPORT_", `_DATE_ and _CLIENT_ touch`},
		{"_CLIENT_ _REMOTEPORT_\n_CLIENT_", `spans lines`},
		{"_CLIENT_ _REMOTEPORT_ \xff", `is not UTF-8`},
	} {
		if _, err := PatternFor(tc.template); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PatternFor(%q)\n got  %v\n want an error with %s", tc.template, err, tc.want)
		}
	}
}

// TestDefaultsAgree is the promise between the two ends: what a client
// writes with DefaultTemplate, a daemon reads with DefaultPatterns, and
// with the pattern made from the template, giving back the client's
// values.
func TestDefaultsAgree(t *testing.T) {
	tmpl, err := PatternFor(DefaultTemplate)
	if err != nil {
		t.Fatal(err)
	}
	parsers := map[string]*Parser{"DefaultPatterns": mustParser(t, DefaultPatterns), "PatternFor": mustParser(t, []string{tmpl})}
	for _, f := range []Fields{
		sampleFields,
		{Date: time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local), Client: netip.MustParseAddr("2001:db8::1"), Remote: netip.MustParseAddr("2001:db8::2"), RemotePort: 65535},
		{Client: netip.MustParseAddr("::ffff:192.0.2.1"), RemotePort: 0},
	} {
		line := Render(DefaultTemplate, f)
		for name, p := range parsers {
			h, err := p.Parse([]byte(line))
			if err != nil {
				t.Errorf("%s: %q: %v", name, line, err)
				continue
			}
			if h.Src != f.Client.Unmap() || h.Dst != f.Remote.Unmap() || h.Port != f.RemotePort || h.Proto != "tcp" {
				t.Errorf("%s: %q gives %+v", name, line, h)
			}
		}
	}
}

// FuzzRenderParse: a line Render writes, the pattern PatternFor makes of
// the same template reads back, giving the client, the remote (when the
// template has it) and the knocked port.
func FuzzRenderParse(f *testing.F) {
	file, err := os.Open("testdata/templates.txt")
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	n := 0
	for sc := bufio.NewScanner(file); sc.Scan(); {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			f.Add(line, []byte{10, 1, 1, 1}, []byte{10, 1, 1, 2}, uint16(40000), uint16(745), int64(1069497000))
			f.Add(line, netip.MustParseAddr("2001:db8::1").AsSlice(), []byte{}, uint16(0), uint16(65535), int64(-1))
			n++
		}
	}
	if n == 0 {
		f.Fatal("no seeds in testdata/templates.txt")
	}
	f.Fuzz(func(t *testing.T, template string, client, remote []byte, cport, rport uint16, unix int64) {
		re, err := PatternFor(template)
		if err != nil || ambiguous(template) {
			return
		}
		c, ok := netip.AddrFromSlice(client)
		if !ok {
			return
		}
		r, _ := netip.AddrFromSlice(remote) // none writes as ""
		fields := Fields{Date: time.Unix(unix, 0).UTC(), Client: c, Remote: r, ClientPort: cport, RemotePort: rport}
		line := Render(template, fields)
		p, err := NewParser([]string{re})
		if err != nil {
			t.Fatalf("PatternFor(%q) = %q: %v", template, re, err)
		}
		h, err := p.Parse([]byte(line))
		if err != nil {
			t.Fatalf("template %q, pattern %q: line %q: %v", template, re, line, err)
		}
		wantDst := netip.Addr{}
		if strings.Contains(template, FieldRemote) {
			wantDst = r.Unmap()
		}
		if h.Src != c.Unmap() || h.Dst != wantDst || h.Port != rport || h.Proto != "tcp" {
			t.Fatalf("template %q: line %q gives %+v, want %v %v %d", template, line, h, c, wantDst, rport)
		}
	})
}

// ambiguous reports whether a field of template is followed by text that
// could continue it, so that a rendered line could be split two ways
// ("_CLIENTPORT_1" after port 2 reads as 21). Such templates are the
// writer's choice; the round trip cannot hold for them.
func ambiguous(template string) bool {
	pieces := split(template)
	for i := 0; i+1 < len(pieces); i++ {
		next := pieces[i+1].text
		if pieces[i].field == "" || next == "" {
			continue
		}
		var continues string
		switch pieces[i].field {
		case FieldClient, FieldRemote:
			continues = "0123456789abcdefABCDEF.:"
		case FieldClientPort, FieldRemotePort:
			continues = "0123456789"
		case FieldDate: // fractions, zones, and a year after a space
			continues = "0123456789.:+-Z"
			if len(next) > 1 && next[0] == ' ' && strings.IndexByte("0123456789", next[1]) >= 0 {
				return true
			}
		}
		if strings.IndexByte(continues, next[0]) >= 0 {
			return true
		}
	}
	return false
}
