package nft_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/firewall/nft"
	"github.com/portknock/knock/internal/netnstest"
)

// A table whose name another process holds (here: a socket this test
// binds, as another daemon would) is refused, naming the holder, and
// left alone; another table in the same namespace is free.
func TestTableHeldElsewhere(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "owner")
	var held *net.UnixListener
	if err := ns.Do(func() (err error) {
		held, err = net.ListenUnix("unix", &net.UnixAddr{Name: "@knockdaemon/nft/inet/portknock", Net: "unix"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	b := newBackend(t, ns, nft.Config{Protected: ssh})
	err := b.Setup(context.Background())
	if !errors.Is(err, nft.ErrTableInUse) {
		t.Fatalf("Setup of a held table: got %v, want ErrTableInUse", err)
	}
	if want := fmt.Sprintf("pid %d holds inet portknock", os.Getpid()); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nfttable") {
		t.Errorf("error %q: want the holder (%s) and the setting to change", err, want)
	}
	if tables := ns.MustRun("nft", "list", "tables"); strings.Contains(tables, "portknock") {
		t.Errorf("a refused Setup installed:\n%s", tables)
	}
	setUp(t, ns, nft.Config{Table: "other", Protected: ssh})
	// The same process may set up its table again (a reload, a repair).
	other := setUp(t, ns, nft.Config{Table: "other", Protected: ssh})
	if err := other.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Watch reports the table's deletion by a flush of the whole ruleset.
func TestWatchSeesFlush(t *testing.T) {
	needKernel(t)
	t.Parallel()
	ns := netnstest.New(t, "watch")
	b := setUp(t, ns, nft.Config{Protected: ssh})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	deleted := b.Watch(ctx)
	// The monitor subscribes in the background: flush until it hears.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := b.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		ns.MustRun("nft", "flush", "ruleset")
		select {
		case <-deleted:
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no signal after flushing the ruleset")
		}
	}
}
