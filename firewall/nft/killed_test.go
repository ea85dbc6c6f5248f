package nft_test

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/nft"
	"golang.org/x/sys/unix"
)

// Environment of the stand-in daemon TestDaemonKilled starts.
const (
	helperNS   = "NFT_TEST_DAEMON_NETNS"
	helperAddr = "NFT_TEST_DAEMON_GRANT"
)

// TestDaemonKilled proves that access ends on time when the daemon is
// killed with SIGKILL just after granting it: a separate process sets up
// the table, opens a grant and is killed; with no process of ours holding
// anything, the kernel still closes the port when the grant is due.
func TestDaemonKilled(t *testing.T) {
	needKernel(t)
	t.Parallel()
	l := newLab(t)
	daemon := exec.Command(os.Args[0], "-test.run=^TestStandInDaemon$")
	daemon.Env = append(os.Environ(), helperNS+"="+l.Host.Path(), helperAddr+"="+l.ClientV4.String())
	out, err := daemon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	daemon.Stderr = os.Stderr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer daemon.Process.Kill()
	var said []string
	lines := bufio.NewScanner(out)
	for lines.Scan() && lines.Text() != "granted" {
		said = append(said, lines.Text())
	}
	if lines.Text() != "granted" {
		daemon.Wait()
		t.Fatalf("stand-in daemon never granted:\n%s", strings.Join(said, "\n"))
	}
	if err := daemon.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := daemon.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("stand-in daemon: %v, want killed", err)
	}
	if !l.reaches(l.ClientV4, l.HostV4) {
		t.Fatal("the grant did not survive its daemon long enough to be used")
	}
	granted := func() bool {
		return strings.Contains(l.Host.MustRun("nft", "list", "set", "inet", "portknock", "allowed4"), l.ClientV4.String())
	}
	eventually(t, "the kernel ended the grant", 15*time.Second, func() bool { return !granted() })
	if l.reaches(l.ClientV4, l.HostV4) {
		t.Error("port still open after the dead daemon's grant ran out")
	}
}

// TestStandInDaemon is the daemon TestDaemonKilled kills: it grants, says
// so, and waits for its end. Run alone, it skips.
func TestStandInDaemon(t *testing.T) {
	ns, addr := os.Getenv(helperNS), os.Getenv(helperAddr)
	if ns == "" {
		t.Skip("stand-in daemon for TestDaemonKilled")
	}
	fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nft.New(nft.Config{Protected: ssh, NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := firewall.Grant{Addr: netip.MustParseAddr(addr), Proto: knock.TCP, Port: 22, Duration: 4 * time.Second}
	if err := b.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Open(ctx, g); err != nil {
		t.Fatal(err)
	}
	fmt.Println("granted")
	time.Sleep(time.Minute)
	t.Fatal("stand-in daemon was not killed")
}
