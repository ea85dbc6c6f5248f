package netns_test

import (
	"testing"

	"github.com/portknock/knock/internal/netns"
	"github.com/portknock/knock/internal/testenv"
)

// Three hosts on one bridge reach each other.
func TestLAN(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	l, err := netns.NewLAN("a", "b", "c")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Delete()
	if _, err := l.Host("c").Run("ping", "-c1", "-W2", l.Host("b").Addr.String()); err != nil {
		t.Fatal(err)
	}
	if l.Host("d") != nil {
		t.Fatal("a host of an unknown role")
	}
}
