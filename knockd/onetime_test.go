package knockd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestOneTimeFiles(t *testing.T) {
	for name, want := range map[string][]Step{
		"mixed.txt":      {{TCP, 7000}, {TCP, 8000}},
		"used-up.txt":    nil,
		"junk-first.txt": {{TCP, 1}, {TCP, 2}, {TCP, 3}},
		"no-newline.txt": {{TCP, 7000}, {UDP, 8000}},
		"crlf.txt":       {{TCP, 7000}, {TCP, 8000}},
	} {
		seq, _, err := nextOneTime(filepath.Join("testdata/onetime", name))
		if want == nil {
			if !errors.Is(err, ErrNoSequence) {
				t.Errorf("%s: %v %v, want no sequence", name, seq, err)
			}
			continue
		}
		if err != nil || !slices.Equal(seq, want) {
			t.Errorf("%s: %v (%v), want %v", name, seq, err, want)
		}
	}
}

// FuzzOneTime: consuming a sequence changes exactly one byte, to '#', at
// the start of a line, and never grows or shrinks the file.
func FuzzOneTime(f *testing.F) {
	files, err := filepath.Glob("testdata/onetime/*.txt")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/onetime (err %v)", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		lines, err := readOneTime(bytes.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) == 0 {
			return
		}
		path := filepath.Join(t.TempDir(), "seq")
		if err := os.WriteFile(path, text, 0o600); err != nil {
			t.Fatal(err)
		}
		ConsumeOneTime(path, lines[0].seq)
		after, _ := os.ReadFile(path)
		if len(after) != len(text) {
			t.Fatalf("file went from %d to %d bytes", len(text), len(after))
		}
		diff := 0
		for i := range after {
			if after[i] != text[i] {
				diff++
				if after[i] != '#' || (i > 0 && text[i-1] != '\n') {
					t.Fatalf("byte %d changed to %q", i, after[i])
				}
			}
		}
		if diff > 1 {
			t.Fatalf("%d bytes changed", diff)
		}
	})
}
