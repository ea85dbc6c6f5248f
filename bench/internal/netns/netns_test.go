package netns

import (
	"net"
	"os"
	"testing"

	"github.com/portknock/knock/internal/testenv"
)

func TestOwnerPid(t *testing.T) {
	for name, want := range map[string]int{"kbench42-host": 42, "kbench7-client": 7, "kbench-x": 0, "other1-host": 0, "kbench0-host": 0, "kbench12": 0} {
		got, ok := OwnerPid(name)
		if got != want || ok != (want > 0) {
			t.Errorf("OwnerPid(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

// A namespace is created, code runs inside it (where only loopback
// exists), and it is removed again.
func TestRoundTrip(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	n, err := New("nstest")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Delete()
	if pid, _ := OwnerPid(n.Name); pid != os.Getpid() {
		t.Errorf("%s does not name this process", n.Name)
	}
	var names []string
	if err := n.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "lo" {
		t.Errorf("interfaces inside: %v, want only lo", names)
	}
	for _, s := range Stale() {
		if s.Name == n.Name {
			t.Errorf("a live harness's namespace is listed as stale")
		}
	}
	n.Delete()
	if _, err := os.Stat(n.Path()); !os.IsNotExist(err) {
		t.Errorf("%s still exists: %v", n.Path(), err)
	}
}
