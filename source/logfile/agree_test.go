package logfile

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/logline"
)

var sampleFields = logline.Fields{
	Date:       time.Date(2003, time.November, 22, 10, 30, 0, 0, time.UTC),
	Client:     netip.MustParseAddr("10.1.1.1"),
	Remote:     netip.MustParseAddr("10.1.1.2"),
	ClientPort: 40000,
	RemotePort: 745,
}

// TestDefaultsAgree is the promise between the two ends: what a client
// writes with logline.DefaultTemplate, a daemon reads with DefaultPatterns, and
// with the pattern made from the template, giving back the client's
// values.
func TestDefaultsAgree(t *testing.T) {
	tmpl, err := logline.PatternFor(logline.DefaultTemplate)
	if err != nil {
		t.Fatal(err)
	}
	parsers := map[string]*Parser{"DefaultPatterns": mustParser(t, DefaultPatterns), "logline.PatternFor": mustParser(t, []string{tmpl})}
	for _, f := range []logline.Fields{
		sampleFields,
		{Date: time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local), Client: netip.MustParseAddr("2001:db8::1"), Remote: netip.MustParseAddr("2001:db8::2"), RemotePort: 65535},
		{Client: netip.MustParseAddr("::ffff:192.0.2.1"), RemotePort: 0},
	} {
		line := logline.Render(logline.DefaultTemplate, f)
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

// FuzzRenderParse: a line logline.Render writes, the pattern logline.PatternFor makes of
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
		re, err := logline.PatternFor(template)
		if err != nil || logline.Ambiguous(template) {
			return
		}
		c, ok := netip.AddrFromSlice(client)
		if !ok {
			return
		}
		r, _ := netip.AddrFromSlice(remote) // none writes as ""
		fields := logline.Fields{Date: time.Unix(unix, 0).UTC(), Client: c, Remote: r, ClientPort: cport, RemotePort: rport}
		line := logline.Render(template, fields)
		p, err := NewParser([]string{re})
		if err != nil {
			t.Fatalf("logline.PatternFor(%q) = %q: %v", template, re, err)
		}
		h, err := p.Parse([]byte(line))
		if err != nil {
			t.Fatalf("template %q, pattern %q: line %q: %v", template, re, line, err)
		}
		wantDst := netip.Addr{}
		if strings.Contains(template, logline.FieldRemote) {
			wantDst = r.Unmap()
		}
		if h.Src != c.Unmap() || h.Dst != wantDst || h.Port != rport || h.Proto != "tcp" {
			t.Fatalf("template %q: line %q gives %+v, want %v %v %d", template, line, h, c, wantDst, rport)
		}
	})
}
