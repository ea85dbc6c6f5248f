package ebpf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portknock/knock/internal/testenv"
)

// TestObjectMatchesSource rebuilds the program with the very command of
// gen.go's go:generate line, into a temporary directory, and compares it
// byte for byte with the committed object and Go file: a change to
// bpf/knock.c without go generate fails here, in CI.
func TestObjectMatchesSource(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the program")
	}
	testenv.NeedCommand(t, "clang-14", "apt-get install clang")
	testenv.NeedCommand(t, "llvm-strip-14", "apt-get install clang")
	if _, err := os.Stat("/usr/include/bpf/bpf_helpers.h"); err != nil {
		testenv.Missing(t, "libbpf headers", err, "apt-get install libbpf-dev")
	}
	args := generateArgs(t)
	dir := t.TempDir()
	// bpf2go's own flags go before its arguments and the C flags.
	full := append([]string{"tool", args[0], "-output-dir", dir}, args[1:]...)
	cmd := exec.Command("go", full...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=ebpf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, name := range []string{"knock_bpfel.o", "knock_bpfel.go", "knock_bpfeb.o", "knock_bpfeb.go"} {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("committed %s differs from what bpf/knock.c compiles to (%d bytes committed, %d compiled): run go generate ./source/ebpf", name, len(want), len(got))
		}
	}
}

// generateArgs returns the arguments of gen.go's go:generate line after
// "go tool".
func generateArgs(t *testing.T) []string {
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//go:generate go tool "); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatal("gen.go has no //go:generate go tool line")
	return nil
}
