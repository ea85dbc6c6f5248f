//go:build linux

package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/client/clienttest"
	"github.com/portknock/knock/internal/testenv"
)

// TestTCPKnockAsNobody: the default knock (TCP) works for a user without
// privilege, where the kernel refuses that user the socket filter: eight
// SYNs arrive, in order, status 0; -debug says the filter was refused.
func TestTCPKnockAsNobody(t *testing.T) {
	pair, bin := nsPair(t)
	setpriv := testenv.NeedCommand(t, "setpriv", "apt-get install util-linux")
	// A copy of knockclient and its file where nobody may read them.
	dir, err := os.MkdirTemp("", "knockclient-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "knockclient")
	copyFile(t, bin, exe, 0o755)
	conf := filepath.Join(dir, "original.conf")
	copyFile(t, original, conf, 0o644)

	c := capture(t, pair)
	stdout, stderr, status := runIn(t, pair, setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		exe, "-conf", conf, "-remote", pair.HostV4.String(), "-timeout", "0.02", "-debug")
	if status != exitOK {
		t.Fatalf("as nobody: status %d\n%s%s", status, stdout, stderr)
	}
	got := c.Collect(pair.ClientV4, len(v1), 300*time.Millisecond, 5*time.Second)
	var ports []uint16
	for _, p := range got {
		if p.Proto != "tcp" || p.Flags != clienttest.FlagSYN {
			t.Fatalf("not a single SYN: %v", p)
		}
		ports = append(ports, p.DstPort)
	}
	if !slices.Equal(ports, v1) {
		t.Fatalf("ports %v, want %v\n%s", ports, v1, stderr)
	}
	if strings.Contains(stderr, "without the socket filter") {
		t.Logf("this kernel refuses the filter to nobody; the plain connect knocked")
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
