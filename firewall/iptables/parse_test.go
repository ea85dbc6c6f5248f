package iptables

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// seedFiles returns the listing files, failing if the glob finds none.
func seedFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob("testdata/listings/*.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no listings in testdata/listings: %v", err)
	}
	return files
}

// summary describes what a listing holds, in the form of its "# want" lines.
func summary(l listing, chain string) []string {
	var out []string
	guards, jumps := 0, 0
	for _, r := range l.rules {
		if g, ok := parseGrant(r.args); ok {
			out = append(out, "grant "+g.String())
		}
		if isGuard(r.args) {
			guards++
		}
		if r.chain == "INPUT" && isJumpTo(r.args, chain) {
			jumps++
		}
	}
	out = append(out, "guards "+strconv.Itoa(guards))
	if jumps > 0 {
		out = append(out, "jumps "+strconv.Itoa(jumps))
	}
	return out
}

// TestListings parses real "iptables -S" output (and some broken text) and
// compares what it finds with each file's "# want" lines.
func TestListings(t *testing.T) {
	for _, file := range seedFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			wantErr := ""
			for _, line := range strings.Split(string(data), "\n") {
				if w, ok := strings.CutPrefix(line, "# want error "); ok {
					wantErr = w
				} else if w, ok := strings.CutPrefix(line, "# want "); ok {
					want = append(want, w)
				}
			}
			l, err := parseListing(string(data))
			if wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), wantErr) {
					t.Fatalf("error %v, want one containing %q", err, wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(l, DefaultChain); !slices.Equal(got, want) {
				t.Errorf("found\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}
}

func TestTokenizeQuoted(t *testing.T) {
	got, err := tokenize(`-A INPUT -m comment --comment "web \"front\" \\ it\'s" -j ACCEPT`)
	want := []string{"-A", "INPUT", "-m", "comment", "--comment", `web "front" \ it's`, "-j", "ACCEPT"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("tokenize = %q, %v; want %q", got, err, want)
	}
}

// FuzzParseListing feeds "iptables -S" text to the parser. It must never
// panic; every rule it reads must survive being written and read again; and
// a grant it recognises must be exactly the rule the backend would write.
func FuzzParseListing(f *testing.F) {
	for _, file := range seedFiles(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, text string) {
		l, err := parseListing(text)
		if err != nil {
			return
		}
		for _, r := range l.rules {
			again, err := tokenize(format(r.chain, r.args))
			if err != nil || !slices.Equal(again[2:], r.args) || again[1] != r.chain {
				t.Fatalf("rule %q did not survive formatting: %q, %v", r.args, again, err)
			}
			if g, ok := parseGrant(r.args); ok {
				if !slices.Equal(g.args(), r.args) {
					t.Fatalf("grant %s reads %q but writes %q", g, r.args, g.args())
				}
				if !g.addr.IsValid() || g.port == 0 || (g.proto != "tcp" && g.proto != "udp") {
					t.Fatalf("grant %s accepted with invalid parts", g)
				}
			}
		}
	})
}
