package command

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The values and fields testdata/templates.txt expands with.
var (
	testFields = []string{"client", "flag0", "evil", "dash", "empty"}
	testValues = map[string]string{"IP": "192.0.2.1", "PORT": "22", "PROTO": "tcp", "TIME": "15", "SECONDS": "900",
		"CLIENT": "192.0.2.1", "FLAG0": "7", "EVIL": "x; rm -rf /", "DASH": "-rf", "EMPTY": ""}
)

// templateCase is one case of the template files.
type templateCase struct {
	line                   int
	template               string
	argv                   []string
	err, expandErr, source string
}

// templateCases reads the template files, failing if there are none.
func templateCases(tb testing.TB) []templateCase {
	tb.Helper()
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no template files in testdata: %v", err)
	}
	var cases []templateCase
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		for n, line := range strings.Split(string(data), "\n") {
			key, val, _ := strings.Cut(line, ": ")
			c := len(cases) - 1
			switch key {
			case "template":
				cases = append(cases, templateCase{line: n + 1, template: val, source: file})
			case "argv":
				if err := json.Unmarshal([]byte(val), &cases[c].argv); err != nil {
					tb.Fatalf("%s:%d: %v", file, n+1, err)
				}
			case "error":
				cases[c].err = val
			case "expand-error":
				cases[c].expandErr = val
			}
		}
	}
	if len(cases) == 0 {
		tb.Fatal("no template cases in testdata")
	}
	return cases
}

func TestTemplates(t *testing.T) {
	for _, tc := range templateCases(t) {
		tmpl, err := Parse("start", tc.template, testFields)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrTemplate) {
				t.Errorf("%s:%d: Parse(%q) = %v, want an error containing %q", tc.source, tc.line, tc.template, err, tc.err)
			} else if !strings.Contains(err.Error(), "start command template") {
				t.Errorf("%s:%d: error %q does not name the template", tc.source, tc.line, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s:%d: Parse(%q): %v", tc.source, tc.line, tc.template, err)
			continue
		}
		argv, err := tmpl.Expand(testValues)
		if tc.expandErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.expandErr) || !errors.Is(err, ErrValue) {
				t.Errorf("%s:%d: Expand(%q) = %v, want an error containing %q", tc.source, tc.line, tc.template, err, tc.expandErr)
			}
			continue
		}
		if err != nil || !slices.Equal(argv, tc.argv) {
			t.Errorf("%s:%d: %q expands to %q, %v; want %q", tc.source, tc.line, tc.template, argv, err, tc.argv)
		}
	}
}

func TestLineContinuation(t *testing.T) {
	tmpl, err := Parse("stop", "fw add \\\n  --src=%IP%", nil)
	if err != nil {
		t.Fatal(err)
	}
	if argv, _ := tmpl.Expand(testValues); !slices.Equal(argv, []string{"fw", "add", "--src=192.0.2.1"}) {
		t.Fatalf("argv = %q", argv)
	}
}

// requote writes argv as a template that means exactly argv.
func requote(argv []string) string {
	var words []string
	for _, a := range argv {
		a = strings.ReplaceAll(a, "%", "%%")
		words = append(words, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return strings.Join(words, " ")
}

// FuzzParse feeds templates to the parser. It must not panic; a template
// it accepts expands to one argument per word whatever the values hold;
// and the expansion, quoted back into a template, parses to itself.
func FuzzParse(f *testing.F) {
	for _, tc := range templateCases(f) {
		f.Add(tc.template, "x; rm -rf / $(id) `id` 'q' \"d\" %IP% \\")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		tmpl, err := Parse("start", text, testFields)
		if err != nil {
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("error %v is not ErrTemplate", err)
			}
			return
		}
		values := map[string]string{}
		for k := range testValues {
			values[k] = "v" + value // never a leading '-'
		}
		argv, err := tmpl.Expand(values)
		if err != nil {
			if strings.Contains(value, "\x00") {
				return
			}
			t.Fatalf("Expand: %v", err)
		}
		if len(argv) != len(tmpl.words) {
			t.Fatalf("%d words became %d arguments: %q", len(tmpl.words), len(argv), argv)
		}
		again, err := Parse("start", requote(argv), nil)
		if err != nil {
			t.Fatalf("requoted %q: %v", requote(argv), err)
		}
		if got, err := again.Expand(nil); err != nil || !slices.Equal(got, argv) {
			t.Fatalf("requoted %q reads back as %q, %v; want %q", requote(argv), got, err, argv)
		}
	})
}
