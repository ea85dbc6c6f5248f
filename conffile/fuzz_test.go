package conffile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// FuzzParse parses arbitrary input, with includes read from the corpus
// directory. Properties: no panic; an error is an *Error with a position;
// every item has a position; and when the Map can be written back as a
// file (see render), parsing that file gives the same Map.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("testdata/corpus/*.conf")
	if err != nil {
		f.Fatal(err)
	}
	more, err := filepath.Glob("testdata/corpus/inc/*/*.conf")
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, more...)
	if len(seeds) < 25 {
		f.Fatalf("the seed glob found %d files, want at least 25", len(seeds))
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	fsys := os.DirFS("testdata/corpus")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Parse("fuzz.conf", data, WithFS(fsys))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if e.Pos.File == "" || e.Pos.Line < 1 {
				t.Fatalf("error %q has no position", err)
			}
			if e.Msg == "" || strings.HasSuffix(e.Error(), ".") {
				t.Fatalf("error %q: empty message or trailing period", err)
			}
			return
		}
		checkPositions(t, b)
		m := b.Map()
		text, ok := render(m)
		if !ok {
			return
		}
		b2, err := Parse("rendered.conf", text)
		if err != nil {
			t.Fatalf("the rendered Map does not parse: %v\n%s", err, text)
		}
		if m2 := b2.Map(); !reflect.DeepEqual(m, m2) {
			t.Fatalf("the rendered Map parses differently\n got: %s\nwant: %s\n%s", canonical(bytesAsRunes(m2)), canonical(bytesAsRunes(m)), text)
		}
	})
}

// render writes a Map back as a configuration file: a value as a quoted
// here-document (so that any text survives), nil as a bare key, a map as
// a block, a list as the key repeated. Named blocks come back as plain
// nested blocks, which give the same Map. It reports false for a Map it
// cannot write: keys that could not be read back as the same key, and a
// single value followed by a block (possible in a label's list, which
// Config::General fills without its usual checks).
func render(m map[string]any) ([]byte, bool) {
	var b strings.Builder
	// A first line of its own, so that a key starting with a byte-order
	// mark is not taken for one.
	b.WriteString("# rendered\n")
	if !renderMap(&b, m) {
		return nil, false
	}
	return []byte(b.String()), true
}

func renderMap(b *strings.Builder, m map[string]any) bool {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !renderableKey(k) {
			return false
		}
		v := m[k]
		if list, ok := v.([]any); ok {
			if len(list) > 1 && !isMap(list[0]) && isMap(list[1]) {
				return false
			}
			for _, e := range list {
				if _, ok := e.([]any); ok {
					return false
				}
				if !renderValue(b, k, e) {
					return false
				}
			}
			continue
		}
		if !renderValue(b, k, v) {
			return false
		}
	}
	return true
}

func isMap(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

func renderValue(b *strings.Builder, k string, v any) bool {
	switch v := v.(type) {
	case nil:
		b.WriteString(k + "\n")
	case string:
		// In a here-document only \ needs escaping; the quotes keep the
		// white space at both ends.
		text := `"` + strings.ReplaceAll(v, `\`, `\\`) + `"`
		marker := "EOF"
		for i := 0; hasLine(text, marker); i++ {
			marker = "EOF" + strings.Repeat("X", i+1)
		}
		b.WriteString(k + " <<" + marker + "\n" + text + "\n" + marker + "\n")
	case map[string]any:
		b.WriteString("<" + k + ">\n")
		if !renderMap(b, v) {
			return false
		}
		b.WriteString("</" + k + ">\n")
	default:
		return false
	}
	return true
}

// hasLine reports whether a line of text, trimmed, is marker.
func hasLine(text, marker string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, marker) {
			return true
		}
	}
	return false
}

// renderableKey: a key that reads back as itself, as a key or block name.
func renderableKey(k string) bool {
	if k == "" || k == "0" || strings.Contains(k, heredocSep) {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c == 0x7f || ('A' <= c && c <= 'Z') || strings.IndexByte(`=<>"#\/*'`, c) >= 0 {
			return false
		}
	}
	return true
}
