//go:build perldiff

// The differential fuzzer: a manual exploration, not part of the test
// suite. It feeds the fuzzer's inputs to both this package and Perl's
// Config::General and stops at the first input where they disagree,
// other than where this package is stricter on purpose (see the package
// documentation). Run it with
//
//	go test -tags perldiff -run '^$' -fuzz FuzzPerlDiff -fuzztime 10m ./conffile/
//
// Inputs that could make Perl read outside a scratch directory (absolute
// or ".." include names, devices) are skipped: Perl reads /dev/zero until
// memory runs out. Inputs Perl takes more than 3 seconds over are skipped
// too, as are files with a byte-order mark and invalid UTF-8, on which
// perl can hang or crash.
package conffile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

var (
	diffOnce sync.Once
	diffDir  string
	diffPerl *perl
	diffErr  error
)

// diffSetup makes the scratch directory the inputs are parsed in, with a
// few files for them to include.
func diffSetup(t *testing.T) {
	needPerl(t)
	diffOnce.Do(func() {
		diffDir, diffErr = os.MkdirTemp("", "conffile-perldiff-")
		if diffErr != nil {
			return
		}
		for name, content := range map[string]string{
			"a.conf":        "a = 1\n<ab>\n  x = y\n</ab>\n",
			"b.conf":        "b = 2\n<<include a.conf>>\n",
			"loop.conf":     "loop = 1\n<<include loop.conf>>\n<<include fuzz.conf>>\n",
			"close.conf":    "</blk>\n",
			"sub/c.conf":    "c = 3\n<<include ../a.conf>>\n",
			"sub/d.conf":    "d <<EOF\n  text\n  EOF\n",
			"sub/.e.conf":   "e = hidden\n",
			"sub/x{y}.conf": "xy = 1\n",
			"common.conf":   "common = top\n",
			"sub/f.conf":    "<<include common.conf>>\n<<include co*.conf>>\nf = 1\n",
		} {
			p := filepath.Join(diffDir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if diffErr = os.WriteFile(p, []byte(content), 0o644); diffErr != nil {
				return
			}
		}
	})
	if diffErr != nil {
		t.Fatal(diffErr)
	}
}

// diffDump runs Perl on file, restarting it if needed; ok is false if Perl
// did not answer in time.
func diffDump(t *testing.T, file string) (r perlResult, ok bool) {
	if diffPerl == nil {
		cmd := exec.Command("sh", "-c", "ulimit -v 2000000; exec perl testdata/dump.pl -")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		diffPerl = &perl{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}
	}
	type answer struct {
		r   perlResult
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		r, err := diffPerl.dump(file)
		ch <- answer{r, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			diffPerl.cmd.Process.Kill()
			diffPerl.cmd.Wait()
			diffPerl = nil
			return perlResult{}, false
		}
		return a.r, true
	case <-time.After(3 * time.Second):
		diffPerl.cmd.Process.Kill()
		diffPerl.cmd.Wait()
		diffPerl = nil
		return perlResult{}, false
	}
}

var (
	includeWord = regexp.MustCompile(`(?i)include`)
	absInclude  = regexp.MustCompile(`(?i)include[\t\n\v\f\r ]*["']?/`)
)

// unsafe reports inputs that might make Perl read outside the scratch
// directory.
func unsafe(data []byte) bool {
	if bytes.HasPrefix(data, utf8BOM) && !utf8.Valid(data) {
		return true // Perl may hang or crash; Parse rejects it
	}
	s := string(data)
	for _, bad := range []string{"/dev", "/proc", "/sys", "stdin", "fd/"} {
		if strings.Contains(s, bad) {
			return true
		}
	}
	for _, line := range strings.Split(s, "\n") {
		if !includeWord.MatchString(line) {
			continue
		}
		if absInclude.MatchString(line) || strings.ContainsAny(line, `\{[~`) || strings.Contains(line, "..") {
			return true
		}
	}
	return false
}

// deliberate reports errors for input Config::General accepts that this
// package rejects on purpose.
func deliberate(err error) bool {
	msg := err.Error()
	if strings.Contains(msg, `: block "0" opened here is never closed`) || strings.Contains(msg, `: block "" opened here is never closed`) {
		return true
	}
	for _, s := range []string{
		"here-document", `comment "/*" opened here`, "ends a comment that was never started",
		"does not close block", "line continued here", "nested more than",
		"include loop", "file is larger", "glob", "invalid UTF-8",
	} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func FuzzPerlDiff(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/corpus/*.conf")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if unsafe(data) || len(data) > 4096 {
			return
		}
		diffSetup(t)
		file := filepath.Join(diffDir, "fuzz.conf")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, ok := diffDump(t, file)
		if !ok {
			return
		}
		b, err := ParseFile(file)
		if err := compareWithPerl(r, b, err); err != nil {
			t.Fatalf("%v\ninput: %q", err, data)
		}
	})
}

// compareWithPerl says where the two parsers disagree, if they do.
func compareWithPerl(r perlResult, b *Block, err error) error {
	switch {
	case r.Error != nil && err != nil:
		return nil
	case r.Error != nil:
		return fmt.Errorf("Config::General rejects what Parse accepts\nperl: %s\n  go: %s", *r.Error, goJSON(b))
	case err != nil:
		if deliberate(err) {
			return nil
		}
		return fmt.Errorf("Parse rejects what Config::General accepts\n  go: %v\nperl: %s", err, perlJSON(r))
	}
	if g, p := goJSON(b), perlJSON(r); g != p {
		return fmt.Errorf("results differ\n  go: %s\nperl: %s\nwarnings: %q", g, p, r.Warnings)
	}
	return nil
}

// TestPerlDiffFiles compares the files named in $PERLDIFF (separated by
// colons), for looking at one input closely.
func TestPerlDiffFiles(t *testing.T) {
	env := os.Getenv("PERLDIFF")
	if env == "" {
		t.Skip("PERLDIFF is not set")
	}
	pl := needPerl(t)
	for _, file := range strings.Split(env, ":") {
		r, err := pl.dump(file)
		if err != nil {
			t.Fatal(err)
		}
		b, goErr := ParseFile(file)
		j, _ := json.Marshal(r)
		t.Logf("%s\nperl: %s\n  go: %v", file, j, goErr)
		if err := compareWithPerl(r, b, goErr); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

// diffTokens are the pieces TestPerlDiffRandom builds inputs from: the
// characters and words the format gives a meaning to.
var diffTokens = []string{
	"key", "Key", "KEY", "0", "a", "b", "value", "x y", "é", "\xc2\xa0", "\xe9",
	" ", " ", "  ", "\t", "\v", "\f", "\r", "\r\n", "\n", "\n", "\n", "\n",
	"=", "=", "==", " = ", "\"", "\"", "'", "#", "\\", "\\", "\\#", "\\\\", "\\\"", "\\$", "$",
	"<", ">", "</", "/>", "/", "*", "/*", "*/", "<<", "<<EOF", "EOF", "\nEOF\n", "  EOF", "E",
	"<<include a.conf>>", "<<include sub/*.conf>>", "<<include b.conf>>", "<<include loop.conf>>",
	"<<include close.conf>>", "<<include sub/x{y}.conf>>", "<<include sub/{c,d}.conf>>",
	"<<include *.conf>>", "<<include nope.conf>>", "<<include nope/*.conf>>", "<<include sub/.*>>",
	"<<INCLUDE sub/c.conf>>", "<<include \"a.conf\">>", "<<include common.conf>>",
	"<blk>", "</blk>", "<blk a>", "<blk A>", "<a b c>", "<\"q r\">", "</a>", "<ab>", "</ab>", "<0>", "</0>",
	"<a/>", "<a b/>", "<a >", "<\"0\" x>", "</\"\">",
	// Unicode white space and case (in files with a byte-order mark).
	"\u2003", "\u0085", "\u3000", "\u00a0", "\u0130", "\u017f", "É", "ÿ",
	// The quoted include regex of Config::General 2.65 wants ">>\\s*".
	"<<include \"a.conf>>\\s", "<<include 'b.conf>>\\", "<<include \"a.conf>>\\\u017f",
	"0\\\n", "0 \\\n", "\\\n", " <<", "<< ", "=<<EOF\n", " <<EOF\n", "\n  ", "\n\t", "\x00",
	"<<include sub/[cd].conf>>", "<<include sub/[!c].conf>>", "<<include s?b/*.conf>>",
	"<<include sub/\\*.conf>>", "<<include {a,b}.conf>>", "<<include a{.conf>>", "<<include sub/f.conf>>",
	"<a \"b c\">", "<a \"0\">", "<a 0>", "<a\t>", "</a >", "</A>",
}

// TestPerlDiffRandom compares inputs made of random tokens; $PERLDIFF_N
// sets how many (default 10000), $PERLDIFF_SEED the seed.
func TestPerlDiffRandom(t *testing.T) {
	n := 10000
	if s := os.Getenv("PERLDIFF_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("PERLDIFF_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	diffSetup(t)
	file := filepath.Join(diffDir, "fuzz.conf")
	fails, skipped := 0, 0
	outcome := map[string]int{}
	for i := 0; i < n && fails < 10; i++ {
		var b strings.Builder
		if rng.Intn(20) == 0 {
			b.Write(utf8BOM)
		}
		for j, k := 0, 1+rng.Intn(40); j < k; j++ {
			b.WriteString(diffTokens[rng.Intn(len(diffTokens))])
		}
		data := []byte(b.String())
		if bytes.HasPrefix(data, utf8BOM) && !utf8.Valid(data) {
			continue
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, ok := diffDump(t, file)
		if !ok {
			skipped++
			continue
		}
		blk, err := ParseFile(file)
		switch {
		case r.Error == nil && err == nil:
			outcome["both accept"]++
		case r.Error != nil && err != nil:
			outcome["both reject"]++
		case err != nil:
			kind := err.Error()
			if e, ok := err.(*Error); ok {
				kind = regexp.MustCompile(`"(\\.|[^"\\])*"|[/0-9][^ ]*`).ReplaceAllString(e.Msg, "_")
			}
			outcome["only Parse rejects: "+kind]++
			if outcome["only Parse rejects: "+kind] <= 3 && os.Getenv("PERLDIFF_SHOW") != "" && strings.Contains(kind, os.Getenv("PERLDIFF_SHOW")) {
				t.Logf("%s\n%q\nperl: %s", err, data, perlJSON(r))
			}
		}
		if err := compareWithPerl(r, blk, err); err != nil {
			t.Errorf("%v\ninput: %q", err, data)
			fails++
		}
	}
	t.Logf("%d inputs, %d skipped (perl too slow)", n, skipped)
	for k, v := range outcome {
		t.Logf("%7d %s", v, k)
	}
}
