package daemon_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/logline"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

// writeKnock appends a legacy knock from 192.0.2.7 for port 22, as log
// lines, to log.
func writeKnock(t *testing.T, log string, iv bool) {
	t.Helper()
	codec, _ := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000", IV: iv})
	ports, err := codec.Encode(legacy.Values{Client: netip.MustParseAddr("192.0.2.7"), Port: 22, Flags: map[int]int{0: 1}})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	defer f.Close()
	for i, p := range ports {
		fmt.Fprintln(f, logline.Render(logline.DefaultTemplate, logline.Fields{Date: time.Now(), Client: netip.MustParseAddr("192.0.2.7"), Remote: netip.MustParseAddr("192.0.2.1"), ClientPort: uint16(40000 + i), RemotePort: p}))
	}
}

// With firewall = Command (any case), a reload that changes protected
// used to swap in a new command backend, and the old one's pending stop
// commands never ran: the grant stayed open for good. The backend is now
// kept, and the grant ends on time.
func TestCommandReloadClosesEveryGrant(t *testing.T) {
	dir := t.TempDir()
	conf := func(protected string) string {
		c, _, _ := fileConf(dir, "iv = yes\nduration = 3s\nprotected = "+protected+"\n")
		return strings.Replace(c, "firewall     = command", "firewall     = Command", 1)
	}
	_, log, flag := fileConf(dir, "")
	d, err := daemon.New(loadConf(t, conf("tcp/22")), daemon.Options{Stderr: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := start(t, d)
	writeKnock(t, log, true)
	waitFor(t, "the open command", func() bool { return exists(flag) })
	if err := d.Reload(ctx, loadConf(t, conf("tcp/22, tcp/443"))); err != nil {
		t.Fatalf("reload: %v", err)
	}
	waitFor(t, "the close command of the grant made before the reload", func() bool { return !exists(flag) })
}

// Loadable but weak configurations are warned about at start.
func TestWarnings(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"key k\nport = 2222\n", "port = 2222"},
		{"encrypt = no\nknock = CLIENT,PORT\n", "encrypt = no without CHECKSUM"},
		{"key k\n", "not tied to the sender"},
	} {
		set := loadConf(t, tc.conf+"checkclient = no\nreplayfile = "+filepath.Join(t.TempDir(), "state", "r")+"\n")
		cfg, err := daemon.Load(set)
		if err != nil {
			t.Fatalf("%q: %v", tc.conf, err)
		}
		if !strings.Contains(strings.Join(cfg.Warnings, "\n"), tc.want) {
			t.Errorf("%q: warnings %q, want one about %q", tc.conf, cfg.Warnings, tc.want)
		}
	}
}

// Errors placed at a setting keep the error they wrap.
func TestErrorsWrap(t *testing.T) {
	set := loadConf(t, "mode sealed\nkeyfile /no/such/knock.key\n")
	_, err := daemon.Load(set)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), ":2: keyfile") {
		t.Fatalf("%v: want a keyfile error at line 2 wrapping fs.ErrNotExist", err)
	}
}

// -decode changes nothing on disk: the replay cache's folder is not even
// created.
func TestDecodeChangesNothing(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	set := loadConf(t, "key knock\nportspan 745-1000\nreplayfile "+state+"/replay\n")
	d, err := daemon.NewDecoder(set)
	if err != nil {
		t.Fatal(err)
	}
	d.Decode([]uint16{966, 914, 795, 964, 831, 862, 807, 932}, netip.Addr{})
	if _, err := os.Stat(state); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("-decode created %s (%v)", state, err)
	}
}

// A sealed knock names the gate it is for: captured on its way to gate-a,
// it does not open gate-b, which holds the same key (server set, one key).
func TestKnockForOneGateOpensNoOther(t *testing.T) {
	dir := t.TempDir()
	keyfile := filepath.Join(dir, "knock.key")
	key, err := sealed.NewKey([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyfile, []byte(sealed.FormatKey(key)+"\n"), 0o600)
	span, _ := portspan.Parse("40000-40255")
	knockFor := func(server string) []uint16 {
		s, err := sealed.NewSender("default", key, server)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.SealNonce(sealed.Message{Client: netip.MustParseAddr("192.0.2.7"), Port: 22, Proto: "tcp", Time: time.Now(), Nonce: 7})
		if err != nil {
			t.Fatal(err)
		}
		return sealed.Encode(span, b)
	}
	set := loadConf(t, "mode sealed\nkeyfile "+keyfile+"\nportspan 40000-40255\nserver gate-b\nreplay no\n")
	d, err := daemon.NewDecoder(set)
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Decode(knockFor("gate-a"), netip.MustParseAddr("192.0.2.7")); v.Accept || v.Reason != "auth" {
		t.Fatalf("a knock sealed for gate-a, at gate-b: %+v", v)
	}
	if v := d.Decode(knockFor("gate-b"), netip.MustParseAddr("192.0.2.7")); !v.Accept {
		t.Fatalf("a knock sealed for gate-b, at gate-b: %+v", v)
	}
}

// An interface that does not exist is reported at the interface setting
// when the daemon is built (so by -test), not found only when the eBPF
// program is attached (or, without eBPF, the packet socket opened).
func TestMissingInterfaceAtStart(t *testing.T) {
	set := loadConf(t, "key k\ncapture auto\ninterface nosuch0\nreplayfile "+filepath.Join(t.TempDir(), "state", "r")+"\n")
	_, err := daemon.New(set, daemon.Options{Stderr: testWriter{t}})
	if err == nil || !strings.Contains(err.Error(), ":3: interface: ") || !strings.Contains(err.Error(), "nosuch0") {
		t.Fatalf("%v: want the interface setting named, at line 3", err)
	}
}
