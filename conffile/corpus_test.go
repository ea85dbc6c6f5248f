package conffile

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the corpus's expected results: *.json from Perl's Config::General, *.err from this package")

// The corpus: testdata/corpus/*.conf, each with the expected result next
// to it. A file's name says what is expected of it:
//
//	bad-*.conf     Config::General rejects it, and so must Parse; NAME.err
//	               holds this package's message.
//	strict-*.conf  Config::General accepts it (with a warning, or silently
//	               dropping something) but this package rejects it on
//	               purpose; NAME.err holds the message.
//	other          both accept it; NAME.json is Config::General's getall()
//	               as canonical JSON, strings byte for byte (see dump.pl).
//
// Files under testdata/corpus/inc/ are only there to be included.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/corpus/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("testdata/corpus has %d *.conf files, want at least 25", len(files))
	}
	return files
}

type corpusKind int

const (
	corpusOK     corpusKind = iota
	corpusBad               // rejected by both
	corpusStrict            // accepted by Config::General, rejected here
)

func kindOf(file string) corpusKind {
	switch base := filepath.Base(file); {
	case strings.HasPrefix(base, "bad-"):
		return corpusBad
	case strings.HasPrefix(base, "strict-"):
		return corpusStrict
	}
	return corpusOK
}

func golden(t *testing.T, file, ext string) string {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(file, ".conf") + ext)
	if err != nil {
		t.Fatalf("missing expected result (run go test -run TestCorpus -update with Perl's Config::General installed): %v", err)
	}
	return strings.TrimSpace(string(b))
}

func writeGolden(t *testing.T, file, ext, content string) {
	t.Helper()
	if err := os.WriteFile(strings.TrimSuffix(file, ".conf")+ext, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCorpus checks every corpus file against its expected result.
func TestCorpus(t *testing.T) {
	for _, file := range corpusFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := ParseFile(file)
			if kindOf(file) == corpusOK {
				if err != nil {
					t.Fatalf("ParseFile: %v", err)
				}
				checkPositions(t, b)
				if *update {
					return // the .json comes from Perl, in TestCorpusPerl
				}
				if got, want := goJSON(b), golden(t, file, ".json"); got != want {
					t.Errorf("Map() differs from Config::General's getall()\n got: %s\nwant: %s", got, want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseFile succeeded, want an error; Map() = %s", goJSON(b))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if e.Pos.File == "" || e.Pos.Line < 1 {
				t.Errorf("error %q has no position", err)
			}
			if *update {
				writeGolden(t, file, ".err", err.Error())
				return
			}
			if got, want := err.Error(), golden(t, file, ".err"); got != want {
				t.Errorf("error\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// TestCorpusPerl compares every corpus file with Perl's Config::General.
func TestCorpusPerl(t *testing.T) {
	pl := needPerl(t)
	for _, file := range corpusFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r, err := pl.dump(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range r.Warnings {
				t.Logf("Config::General warns: %s", strings.TrimSpace(w))
			}
			b, goErr := ParseFile(file)
			switch kindOf(file) {
			case corpusOK:
				if r.Error != nil {
					t.Fatalf("Config::General rejects the file: %s", *r.Error)
				}
				if *update {
					writeGolden(t, file, ".json", perlJSON(r))
				}
				if goErr != nil {
					t.Fatalf("ParseFile: %v", goErr)
				}
				if got, want := goJSON(b), perlJSON(r); got != want {
					t.Errorf("Map() differs from Config::General's getall()\n  go: %s\nperl: %s", got, want)
				}
			case corpusBad:
				if r.Error == nil {
					t.Errorf("Config::General accepts the file: %s", perlJSON(r))
				}
				if goErr == nil {
					t.Errorf("ParseFile accepts the file: %s", goJSON(b))
				}
				if r.Error != nil {
					t.Logf("Config::General: %s", strings.TrimSpace(*r.Error))
				}
			case corpusStrict:
				if r.Error != nil {
					t.Errorf("Config::General rejects the file (so it is not a strict-* case): %s", *r.Error)
				} else {
					t.Logf("Config::General accepts it: %s", perlJSON(r))
				}
				if goErr == nil {
					t.Errorf("ParseFile accepts the file: %s", goJSON(b))
				}
			}
		})
	}
}

// checkPositions checks that every item and block has a position.
func checkPositions(t *testing.T, b *Block) {
	t.Helper()
	for _, it := range b.Items {
		if it.Pos.File == "" || it.Pos.Line < 1 {
			t.Errorf("item %q has no position: %+v", it.Key, it.Pos)
		}
		if it.Block != nil {
			if it.Block.Pos != it.Pos || it.Block.Name != it.Key {
				t.Errorf("block item %q (%v) and its block %q (%v) disagree", it.Key, it.Pos, it.Block.Name, it.Block.Pos)
			}
			checkPositions(t, it.Block)
		}
	}
}
