package replay

import (
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/portknock/knock/internal/vector"
)

// seedFiles adds the file of every vector under testdata/vectors; a glob
// that finds nothing fails.
func seedFiles(f *testing.F) {
	vs, err := vector.Glob("testdata/vectors/*.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		data, err := strconv.Unquote(v.Get("file"))
		if err != nil {
			f.Fatalf("%s: file: %v", v.Name, err)
		}
		f.Add([]byte(data))
	}
}

// FuzzParse reads any bytes as a cache file: it never fails, keeps only
// live entries, counts each dropped line once, and what it keeps reads
// back the same once written out again.
func FuzzParse(f *testing.F) {
	seedFiles(f)
	const now = 1800000000
	f.Fuzz(func(t *testing.T, data []byte) {
		p := parse(data, now)
		for id, exp := range p.entries {
			if exp <= now {
				t.Fatalf("kept %x, expired at %d", id[:4], exp)
			}
		}
		if p.torn+len(p.damaged) > p.lines || !slices.IsSorted(p.damaged) {
			t.Fatalf("%d torn and damaged lines %v of %d", p.torn, p.damaged, p.lines)
		}
		for _, n := range p.damaged {
			if n < 1 || n > p.lines {
				t.Fatalf("damaged line %d of %d", n, p.lines)
			}
		}
		var out []byte
		if p.horizon != 0 {
			out = appendHorizon(out, p.horizon)
		}
		for id, exp := range p.entries {
			out = appendEntry(out, id, exp)
		}
		q := parse(out, now)
		if !maps.Equal(p.entries, q.entries) || q.horizon != p.horizon || q.torn != 0 || len(q.damaged) != 0 || q.expired != 0 {
			t.Fatalf("written out and read back: %d entries (was %d), horizon %d (was %d), torn %d, damaged %v",
				len(q.entries), len(p.entries), q.horizon, p.horizon, q.torn, q.damaged)
		}
	})
}
