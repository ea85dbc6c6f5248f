package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
)

// runIn runs the command inside ns, on a thread of its own, so that a
// bug that does touch the firewall touches the namespace's only.
func runIn(t *testing.T, ns *netnstest.NS, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := -1
	if err := ns.Do(func() error { code = run(args, &out, &errb); return nil }); err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// -test checks, prints what it would install, and exits; it changes
// nothing: no firewall table, no NFLOG rule, no replay file or folder.
func TestTestModeChangesNothing(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "nft", "apt-get install nftables")
	ns := netnstest.New(t, "test")
	dir := t.TempDir()
	conf := filepath.Join(dir, "d.conf")
	state := filepath.Join(dir, "state")
	os.WriteFile(conf, []byte("key knock\nportspan 745-1000\nreplayfile "+state+"/replay\nrunmode network\ncapture nflog\n"), 0o600)
	code, out, errs := runIn(t, ns, "-conf", conf, "-test")
	if code != exitOK || !strings.Contains(out, "table inet portknock") || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("-test: exit %d, out %q, err %q", code, out, errs)
	}
	if rules := ns.MustRun("nft", "list", "ruleset"); strings.TrimSpace(rules) != "" {
		t.Errorf("-test changed the firewall:\n%s", rules)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("-test created the replay cache's folder (%v)", err)
	}
	// A problem is an exit status, not a running daemon.
	os.WriteFile(conf, []byte("mode sealed\nkeyfile "+dir+"/no-such.key\n"), 0o600)
	if code, _, errs := runIn(t, ns, "-conf", conf, "-test"); code != exitConfig || !strings.Contains(errs, "keyfile") {
		t.Fatalf("-test with a missing key file: exit %d, %q", code, errs)
	}
}

// An empty argument, as a failed command substitution gives, is refused
// instead of being taken for no argument (which started the daemon).
func TestEmptyArgumentsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.conf")
	os.WriteFile(path, []byte("key knock\nportspan 745-1000\nreplay no\n"), 0o600)
	for _, args := range [][]string{{"-decode", ""}, {"-decode", "966 914", "-from", ""}} {
		var out, errb bytes.Buffer
		code := run(append([]string{"-conf", path}, args...), &out, &errb)
		if code != exitConfig || !strings.Contains(errb.String(), "empty") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

// -uninstall removes the daemon's rules even when the knock settings no
// longer load (here: the key file is gone).
func TestUninstallWithoutValidKnock(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "nft", "apt-get install nftables")
	ns := netnstest.New(t, "uninst")
	ns.MustRun("nft", "add", "table", "inet", "portknock")
	conf := filepath.Join(t.TempDir(), "d.conf")
	os.WriteFile(conf, []byte("mode sealed\nkeyfile /no/such/knock.key\nportspan 1-2-3\n"), 0o600)
	code, out, errs := runIn(t, ns, "-conf", conf, "-uninstall")
	if code != exitOK {
		t.Fatalf("-uninstall: exit %d, out %q, err %q", code, out, errs)
	}
	if rules := ns.MustRun("nft", "list", "ruleset"); strings.Contains(rules, "portknock") {
		t.Fatalf("the daemon's table is still there:\n%s", rules)
	}
}
