package sealed_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestGenerateReproduces runs the vector generator into a temporary
// directory and checks that it writes exactly the files under
// testdata/vectors, byte for byte: the vectors are what the generator
// says, and the generator is deterministic.
func TestGenerateReproduces(t *testing.T) {
	dir, dir2 := t.TempDir(), t.TempDir()
	cmd := exec.Command("go", "run", "./internal/gen", "-out", dir, "-out-v2", dir2)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/gen: %v\n%s", err, out)
	}
	sameFiles(t, "testdata/vectors", dir)
	sameFiles(t, "testdata/vectors-v2", dir2)
}

// sameFiles compares the vectors under testdata with what the generator
// wrote into dir.
func sameFiles(t *testing.T, testdata, dir string) {
	t.Helper()
	want := readDir(t, testdata)
	got := readDir(t, dir)
	if len(want) == 0 {
		t.Fatalf("no vectors under %s", testdata)
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: the generator no longer writes it", name)
		} else if !bytes.Equal(g, w) {
			t.Errorf("%s: the generator writes other bytes; run: cd sealed && go run ./internal/gen", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: written by the generator, missing from %s", name, testdata)
		}
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(n)] = b
	}
	return out
}
