package logfile

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portknock/knock"
	"github.com/portknock/knock/logline"
	"github.com/portknock/knock/source"
)

// vector is one line of testdata/lines/*.txt and what it must give.
type vector struct {
	where    string // file:line
	patterns []string
	line     string
	want     string // "tcp src dst port" (dst "-" if none), unmatched, not_knock, bad_field
}

// loadVectors reads testdata/lines/*.txt: a log line, then "=> want" on the
// next line. "pattern: re" lines set the file's patterns (default:
// DefaultPatterns), "template: t" adds logline.PatternFor(t) ("default" is
// logline.DefaultTemplate); # starts a comment.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	files, err := filepath.Glob("testdata/lines/*.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no vectors in testdata/lines/*.txt (%v)", err)
	}
	var all []vector
	for _, name := range files {
		all = append(all, loadVectorFile(tb, name)...)
	}
	return all
}

func loadVectorFile(tb testing.TB, name string) []vector {
	f, err := os.Open(name)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []vector
	var patterns []string
	var pending *vector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		where := fmt.Sprintf("%s:%d", name, n)
		switch {
		case text == "" || strings.HasPrefix(text, "#"):
		case strings.HasPrefix(text, "pattern: "):
			patterns = append(patterns, strings.TrimPrefix(text, "pattern: "))
		case strings.HasPrefix(text, "template: "):
			t := strings.TrimPrefix(text, "template: ")
			if t == "default" {
				t = logline.DefaultTemplate
			}
			re, err := logline.PatternFor(t)
			if err != nil {
				tb.Fatalf("%s: %v", where, err)
			}
			patterns = append(patterns, re)
		case strings.HasPrefix(text, "=> "):
			if pending == nil {
				tb.Fatalf("%s: an expectation without a line before it", where)
			}
			pending.want = strings.TrimPrefix(text, "=> ")
			out = append(out, *pending)
			pending = nil
		default:
			if pending != nil {
				tb.Fatalf("%s: the line before has no => expectation", where)
			}
			pending = &vector{where: where, patterns: patterns, line: text}
		}
	}
	if pending != nil {
		tb.Fatalf("%s: the last line has no => expectation", name)
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no vectors", name)
	}
	return out
}

// describe writes a Parse result the way the vectors do.
func describe(h source.Hit, err error) string {
	switch {
	case errors.Is(err, ErrUnmatched):
		return "unmatched"
	case errors.Is(err, ErrNotKnock):
		return "not_knock"
	case errors.Is(err, ErrBadField):
		return "bad_field"
	case err != nil:
		return "error " + err.Error()
	}
	dst := "-"
	if h.Dst.IsValid() {
		dst = h.Dst.String()
	}
	return fmt.Sprintf("%s %s %s %d", h.Proto, h.Src, dst, h.Port)
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		patterns := v.patterns
		if patterns == nil {
			patterns = DefaultPatterns
		}
		p, err := NewParser(patterns)
		if err != nil {
			t.Fatalf("%s: %v", v.where, err)
		}
		h, err := p.Parse([]byte(v.line))
		if got := describe(h, err); got != v.want {
			t.Errorf("%s: %q\n got  %s\n want %s", v.where, v.line, got, v.want)
		}
		if err == nil && (h.Src != h.Src.Unmap() || h.Dst != h.Dst.Unmap()) {
			t.Errorf("%s: addresses not unmapped: %v %v", v.where, h.Src, h.Dst)
		}
	}
}

func TestNewParserErrors(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		want     string // in the error
	}{
		{nil, "no patterns"},
		{[]string{`SRC=(\S+) DPT=(\d+)`}, `pattern "SRC=(\\S+) DPT=(\\d+)" lacks (?P<src>...) for the source address and (?P<dport>...) for the destination port`},
		{[]string{`SRC=(?P<src>\S+)`}, `lacks (?P<dport>...) for the destination port`},
		{[]string{`DPT=(?P<dport>\d+)`}, `lacks (?P<src>...) for the source address`},
		{[]string{`(?P<src>\S+) (?P<dport>\d+) (?P<sport>\d+)`}, `unknown group "sport": the groups are src, dport, dst, proto, flags`},
		{[]string{`(?P<src>\S+ (?P<dport>\d+)`}, `pattern "(?P<src>\\S+ (?P<dport>\\d+)": error parsing regexp: missing closing )`},
		{[]string{NetfilterLOG, `(?P<src>x`}, `pattern "(?P<src>x"`},
	} {
		_, err := NewParser(tc.patterns)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewParser(%q)\n got  %v\n want an error with %s", tc.patterns, err, tc.want)
		}
	}
}

// FuzzParse feeds lines to the default patterns and to the default
// template's pattern: no panic, an error of the three kinds, or a hit as
// sources promise it (unmapped addresses, no zone, tcp or udp).
func FuzzParse(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.line)
	}
	tmpl, err := logline.PatternFor(logline.DefaultTemplate)
	if err != nil {
		f.Fatal(err)
	}
	parsers := []*Parser{mustParser(f, DefaultPatterns), mustParser(f, []string{tmpl})}
	f.Fuzz(func(t *testing.T, line string) {
		for _, p := range parsers {
			h, err := p.Parse([]byte(line))
			if err != nil {
				if !errors.Is(err, ErrUnmatched) && !errors.Is(err, ErrNotKnock) && !errors.Is(err, ErrBadField) {
					t.Fatalf("%q: unexpected error %v", line, err)
				}
				continue
			}
			checkHit(t, line, h)
		}
	})
}

func checkHit(t *testing.T, line string, h source.Hit) {
	t.Helper()
	for _, a := range []netip.Addr{h.Src, h.Dst} {
		if a != a.Unmap() || a.Zone() != "" {
			t.Fatalf("%q: address %v is mapped or zoned", line, a)
		}
	}
	if !h.Src.IsValid() || (h.Proto != knock.TCP && h.Proto != knock.UDP) {
		t.Fatalf("%q: bad hit %+v", line, h)
	}
}

func mustParser(tb testing.TB, patterns []string) *Parser {
	tb.Helper()
	p, err := NewParser(patterns)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestKeepFlags checks knockd's door ports: there a line of any TCP
// segment is a hit with its flags; elsewhere only SYNs, as before.
func TestKeepFlags(t *testing.T) {
	p := mustParser(t, DefaultPatterns)
	p.KeepFlags([]uint16{746})
	for _, tc := range []struct {
		line  string
		flags uint8
		err   error
	}{
		{"Dec  4 22:11:25 gate kernel: k: IN=vb OUT= SRC=10.77.9.2 DST=10.77.9.1 LEN=52 PROTO=TCP SPT=35350 DPT=746 WINDOW=63 RES=0x00 ACK PSH URGP=0 ", 0x18, nil},
		{"Dec  4 22:11:25 gate kernel: k: IN=vb OUT= SRC=10.77.9.2 DST=10.77.9.1 LEN=52 PROTO=TCP SPT=35350 DPT=746 WINDOW=63 RES=0x00 CWR ECE SYN URGP=0 ", 0x02, nil},
		{"Dec  4 22:11:25 gate kernel: k: IN=vb OUT= SRC=10.77.9.2 DST=10.77.9.1 LEN=52 PROTO=TCP SPT=35350 DPT=747 WINDOW=63 RES=0x00 SYN URGP=0 ", 0x02, nil},
		{"Dec  4 22:11:25 gate kernel: k: IN=vb OUT= SRC=10.77.9.2 DST=10.77.9.1 LEN=52 PROTO=TCP SPT=35350 DPT=747 WINDOW=63 RES=0x00 ACK FIN URGP=0 ", 0, ErrNotKnock},
	} {
		h, err := p.Parse([]byte(tc.line))
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s: error %v, want %v", tc.line, err, tc.err)
			continue
		}
		if err == nil && h.TCPFlags != tc.flags {
			t.Errorf("%s: flags %#x, want %#x", tc.line, h.TCPFlags, tc.flags)
		}
	}
}

// TestPatternWarnings: a pattern that can match inside a program's
// message (not anchored at the line's start) is warned about; the
// default patterns and a client's templates are not.
func TestPatternWarnings(t *testing.T) {
	tmpl, err := logline.PatternFor(logline.DefaultTemplate)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{
		tmpl,
		`^knocklog (?P<proto>\w+) (?P<src>\S+) -> (?:(?P<dst>\S+) )?port (?P<dport>\d+)\b`,
		`^(?:a=(?P<src>\S+)|b=(?P<src>\S+)) p=(?P<dport>\d+)`,
		`(?m)^\S+ ulogd: SRC=(?P<src>\S+) DPT=(?P<dport>\d+)`,
		`(^x SRC=(?P<src>\S+) DPT=(?P<dport>\d+))`,
	}, DefaultPatterns...) {
		if w := Warnings([]string{p}); len(w) != 0 {
			t.Errorf("%q: warned: %v", p, w)
		}
	}
	for _, p := range []string{
		NetfilterLOG,
		`port (?P<dport>\d+) from (?P<src>\S+)`,
		`^.*SRC=(?P<src>\S+) DPT=(?P<dport>\d+)`,
		`^(?:.*) SRC=(?P<src>\S+) DPT=(?P<dport>\d+)`,
		`^(.+)SRC=(?P<src>\S+) DPT=(?P<dport>\d+)`,
		`^kernel: SRC=(?P<src>\S+)|SRC=(?P<src>\S+) DPT=(?P<dport>\d+)`,
		`x^SRC=(?P<src>\S+) DPT=(?P<dport>\d+)`,
	} {
		w := Warnings([]string{p})
		if len(w) != 1 || !strings.Contains(w[0], fmt.Sprintf("pattern %q does not start at the line's start", p)) || !strings.Contains(w[0], "any program that writes to the log") {
			t.Errorf("%q: warnings %q", p, w)
		}
	}
}
