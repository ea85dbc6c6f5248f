package replay_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenerateReproduces runs the vector generator into a temporary folder
// and checks that it writes exactly the files under testdata/vectors.
func TestGenerateReproduces(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("go", "run", "./internal/gen", "-out", dir).CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/gen: %v\n%s", err, out)
	}
	want, got := readDir(t, "testdata/vectors"), readDir(t, dir)
	if len(want) == 0 {
		t.Fatal("no vectors under testdata/vectors")
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: the generator no longer writes it", name)
		} else if !bytes.Equal(g, w) {
			t.Errorf("%s: the generator writes other bytes; run: cd replay && go run ./internal/gen", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: written by the generator, missing from testdata/vectors", name)
		}
	}
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
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
