package conffile

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// perl runs testdata/dump.pl, which parses files with Perl's own
// Config::General, in its "one file name a line" mode.
type perl struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	dead error
}

// perlResult is one answer of dump.pl: the getall() hash with every byte
// of a string as one character, or Config::General's error.
type perlResult struct {
	Config   map[string]any `json:"config"`
	Error    *string        `json:"error"`
	Warnings []string       `json:"warnings"`
}

var (
	perlOnce     sync.Once
	perlProc     *perl
	perlErr      error // perl or a module is missing
	perlStartErr error
)

// needPerl returns the shared dump.pl process, or skips the test if perl
// or one of the Perl modules is missing.
func needPerl(t testing.TB) *perl {
	t.Helper()
	perlOnce.Do(func() {
		if _, err := exec.LookPath("perl"); err != nil {
			perlErr = fmt.Errorf("perl is not installed: %v", err)
			return
		}
		if out, err := exec.Command("perl", "-MConfig::General 2.65", "-MJSON::PP", "-e1").CombinedOutput(); err != nil {
			perlErr = fmt.Errorf("Config::General 2.65 or JSON::PP is missing (Debian: libconfig-general-perl): %v: %s", err, out)
			return
		}
		perlProc, perlStartErr = startPerl()
	})
	if perlErr != nil {
		t.Skipf("skipping the comparison with Perl's Config::General: %v", perlErr)
	}
	if perlStartErr != nil {
		t.Fatalf("starting testdata/dump.pl: %v", perlStartErr)
	}
	return perlProc
}

func startPerl() (*perl, error) {
	cmd := exec.Command("perl", "testdata/dump.pl", "-")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &perl{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

// dump parses file (a path relative to the package directory, the test's
// working directory) with Config::General.
func (p *perl) dump(file string) (perlResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead != nil {
		return perlResult{}, p.dead
	}
	if strings.ContainsAny(file, "\n") {
		return perlResult{}, fmt.Errorf("file name %q has a newline", file)
	}
	if _, err := io.WriteString(p.in, file+"\n"); err != nil {
		p.dead = err
		return perlResult{}, err
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		p.dead = fmt.Errorf("dump.pl: %v", err)
		return perlResult{}, p.dead
	}
	var r perlResult
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return perlResult{}, fmt.Errorf("dump.pl printed %q: %v", line, err)
	}
	return r, nil
}

// bytesAsRunes returns v with every string's bytes turned into runes
// U+0000..U+00FF, the way dump.pl prints Perl's strings, so that the two
// can be compared even where a string is not valid UTF-8.
func bytesAsRunes(v any) any {
	switch v := v.(type) {
	case string:
		r := make([]rune, len(v))
		for i := 0; i < len(v); i++ {
			r[i] = rune(v[i])
		}
		return string(r)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = bytesAsRunes(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[bytesAsRunes(k).(string)] = bytesAsRunes(e)
		}
		return out
	}
	return v
}

// canonical is the JSON the comparisons use: Go's encoding, keys sorted.
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// goJSON is Map() as canonical JSON, strings byte for byte as dump.pl
// prints them.
func goJSON(b *Block) string { return canonical(bytesAsRunes(b.Map())) }

// perlJSON is dump.pl's answer as the same canonical JSON.
func perlJSON(r perlResult) string { return canonical(r.Config) }

// execPerl returns a command running a Perl script.
func execPerl(script string) *exec.Cmd { return exec.Command("perl", "-e", script) }
