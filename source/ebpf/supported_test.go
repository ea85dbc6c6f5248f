package ebpf

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/source/packet/packettest"
)

// TestSupported: as root, on this kernel, the source can run; as an
// unprivileged user (the test binary run again as nobody), Supported says
// why not, with what to do.
func TestSupported(t *testing.T) {
	if os.Getenv("KNOCK_EBPF_PROBE") == "1" {
		fmt.Printf("supported: %v\n", Supported())
		return
	}
	testenv.NeedRoot(t)
	if err := Supported(); err != nil {
		t.Fatalf("as root: %v", err)
	}
	exe := copyForNobody(t)
	cmd := exec.Command(exe, "-test.run=^TestSupported$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KNOCK_EBPF_PROBE=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running the probe as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "cannot run here") || !strings.Contains(string(out), "needs root") {
		t.Errorf("as nobody, Supported said:\n%s", out)
	}
}

// copyForNobody copies the test binary where nobody may run it (the build
// directory is root's alone).
func copyForNobody(t *testing.T) string {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "ebpf.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestConfig: a configuration the program cannot serve is refused before
// anything is loaded.
func TestConfig(t *testing.T) {
	span := packettest.Span(t, "7000-7255")
	good := Config{Interfaces: []string{"eth0"}, Span: span, MinKnock: 8, Timeout: time.Second}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no ports", func(c *Config) { c.Span = nil }, "no knock span"},
		{"minimum 1", func(c *Config) { c.MinKnock = 1 }, "minimum knock of 1 packets"},
		{"minimum too long", func(c *Config) { c.MinKnock = QueueLen + 1 }, "want 2 to 32"},
		{"no timeout", func(c *Config) { c.Timeout = 0 }, "knock timeout 0s"},
		{"negative stage", func(c *Config) { c.Stage2 = -1 }, "negative"},
		{"stage 1 not a power of two", func(c *Config) { c.Stage1 = 3 * Ways }, "stage 1 of 12 sources: want a power of two from 4"},
		{"stage 1 under a set", func(c *Config) { c.Stage1 = Ways / 2 }, "from 4 to"},
		{"stage 1 too large", func(c *Config) { c.Stage1 = 2 * MaxStage1 }, "from 4 to"},
		{"odd ring", func(c *Config) { c.Ring = 3 << 12 }, "ring buffer of 12288 bytes"},
	} {
		cfg := good
		tc.edit(&cfg)
		_, err := cfg.spec()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := good.spec(); err != nil {
		t.Errorf("good config: %v", err)
	}
	if _, err := New(Config{Span: span, MinKnock: 8, Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "no interface") {
		t.Errorf("New without interfaces: %v", err)
	}
	if !errors.Is(fmt.Errorf("%w: x", ErrNotSupported), ErrNotSupported) {
		t.Error("ErrNotSupported does not wrap")
	}
}
