package fwknop_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/internal/vector"
)

// TestGeneratorAgrees runs the vector generator into a temporary folder.
// The real client draws salts, so the packets differ from the committed
// ones; what must agree is the corpus: the same files, each with the same
// expectation, and every fresh vector decided as it says.
func TestGeneratorAgrees(t *testing.T) {
	testenv.NeedCommand(t, "fwknop", "apt-get install fwknop-client")
	dir := t.TempDir()
	if out, err := exec.Command("go", "run", "./internal/gen", "-out", dir).CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/gen: %v\n%s", err, out)
	}
	fresh, err := vector.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := vector.Glob(vectorGlob)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, v := range committed {
		want[v.Name] = v.Get("expect")
	}
	var names []string
	for _, v := range fresh {
		names = append(names, v.Name)
		if w, ok := want[v.Name]; !ok {
			t.Errorf("%s: written by the generator, missing from testdata/vectors (run: cd fwknop && go run ./internal/gen)", v.Name)
		} else if v.Get("expect") != w {
			t.Errorf("%s: the generator expects %q, testdata/vectors %q", v.Name, v.Get("expect"), w)
		}
	}
	for n := range want {
		if !slices.Contains(names, n) {
			t.Errorf("%s: the generator no longer writes it", n)
		}
	}
	for _, v := range fresh {
		t.Run(strings.TrimSuffix(v.Name, ".txt"), func(t *testing.T) { runVector(t, v) })
	}
}

// TestDebianAccessConf reads the access.conf that Debian's fwknop-server
// installs: its placeholders are refused at their line, and once they are
// filled in, the file gives its one stanza.
func TestDebianAccessConf(t *testing.T) {
	b, err := os.ReadFile("/etc/fwknop/access.conf")
	if err != nil {
		t.Skipf("no Debian access.conf (fwknop-server): %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "access.conf")
	os.WriteFile(path, b, 0o600)
	_, err = readAccess(path)
	if err == nil || !strings.Contains(err.Error(), "KEY_BASE64 is still __CHANGEME__") {
		t.Fatalf("got %v, want the placeholder refused", err)
	}
	filled := strings.Replace(string(b), "__CHANGEME__", randomKey(32), 1)
	filled = strings.Replace(filled, "__CHANGEME__", randomKey(64), 1)
	os.WriteFile(path, []byte(filled), 0o600)
	st, err := readAccess(path)
	if err != nil || len(st) != 1 {
		t.Fatalf("%d stanzas, %v", len(st), err)
	}
}
