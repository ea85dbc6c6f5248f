package client_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/client"
	"github.com/portknock/knock/client/clienttest"
	"github.com/portknock/knock/settings"
)

var (
	start  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	remote = netip.MustParseAddr("192.0.2.1")
	v1     = []uint16{966, 914, 795, 964, 831, 862, 807, 932}
)

// rig is a client over fakes, and what it wrote.
type rig struct {
	c              *client.Client
	net            *clienttest.Network
	clock          *clienttest.Clock
	stdout, stderr bytes.Buffer
}

func newRig(t *testing.T, args ...string) *rig {
	t.Helper()
	s, err := settings.Load(settings.Client, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{net: &clienttest.Network{Local: netip.MustParseAddr("203.0.113.5")}, clock: clienttest.NewClock(start)}
	r.c = client.New(s, client.Env{Clock: r.clock, Rand: clienttest.NewRand(1), Net: r.net, Stdout: &r.stdout, Stderr: &r.stderr})
	return r
}

func (r *rig) run(t *testing.T) error {
	t.Helper()
	return r.c.Run(context.Background())
}

// TestOriginalFileKnocks: the prototype's knockclient.conf sends V1 over
// TCP to remote, in order, with its timeout between knocks.
func TestOriginalFileKnocks(t *testing.T) {
	r := newRig(t, "-conf", "testdata/knockclient.conf")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if got := r.net.Ports(); !slices.Equal(got, v1) {
		t.Fatalf("ports %v, want %v", got, v1)
	}
	for _, s := range r.net.Sent() {
		if s.Remote != remote || s.Proto != knock.TCP || s.Payload != nil {
			t.Fatalf("sent %+v", s)
		}
	}
	want := slices.Repeat([]time.Duration{500 * time.Millisecond}, 7)
	if got := r.clock.Sleeps(); !slices.Equal(got, want) {
		t.Fatalf("pauses %v, want %v", got, want)
	}
	if !strings.Contains(r.stdout.String(), "knocked on 192.0.2.1 (tcp): 966 914") {
		t.Fatalf("stdout %q", r.stdout.String())
	}
}

func TestTestModeSendsNothing(t *testing.T) {
	r := newRig(t, "-conf", "testdata/knockclient.conf", "-test")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if len(r.net.Sent()) != 0 || r.stdout.String() != "966 914 795 964 831 862 807 932\n" || r.stderr.Len() != 0 {
		t.Fatalf("sent %v, stdout %q, stderr %q", r.net.Sent(), r.stdout.String(), r.stderr.String())
	}
}

func TestQuietPrintsNothing(t *testing.T) {
	r := newRig(t, "-conf", "testdata/knockclient.conf", "-quiet", "-protocol", "udp", "-timeout", "0")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if r.stdout.Len()+r.stderr.Len() != 0 || len(r.net.Sent()) != 8 || r.net.Sent()[0].Proto != knock.UDP {
		t.Fatalf("stdout %q stderr %q sent %v", r.stdout.String(), r.stderr.String(), r.net.Sent())
	}
	if len(r.clock.Sleeps()) != 0 {
		t.Fatalf("timeout 0 paused %v", r.clock.Sleeps())
	}
}

// TestClientFromRoute: without client, CLIENT carries the address the
// kernel would use toward remote, and -debug says so.
func TestClientFromRoute(t *testing.T) {
	r := newRig(t, "-remote", "knock.example", "-key", "k", "-flag0", "1", "-noencrypt", "-debug", "-timeout", "0")
	r.net.Hosts = map[string]netip.Addr{"knock.example": remote}
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if got := r.net.Ports()[:4]; !slices.Equal(got, []uint16{745 + 203, 745 + 0, 745 + 113, 745 + 5}) {
		t.Fatalf("CLIENT ports %v", got)
	}
	for _, want := range []string{"remote: knock.example is 192.0.2.1", "client: not set; using 203.0.113.5, this host's address toward 192.0.2.1", "send 1/7: tcp port 948"} {
		if !strings.Contains(r.stderr.String(), want) {
			t.Errorf("debug output lacks %q:\n%s", want, r.stderr.String())
		}
	}
}

func TestConfigurationErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-conf", "testdata/knockclient.conf", "-port", "443"}, `-port "443": 443 does not fit the knock's one-byte PORT field (0-255): write PORT16`},
		{[]string{"-conf", "testdata/knockclient.conf", "-client", "10.1.1"}, `-client "10.1.1": "10.1.1" is not an IP address`},
		{[]string{"-conf", "testdata/knockclient.conf", "-client", "2001:db8::1"}, "CLIENT field carries an IPv4 address"},
		{[]string{"-conf", "testdata/knockclient.conf", "-knock", "CLIENT,FLAG3"}, "FLAG3 has no value: set flag3"},
		{[]string{"-conf", "testdata/knockclient.conf", "-protocol", "icmp"}, `-protocol "icmp": expected tcp or udp`},
		{[]string{"-conf", "testdata/knockclient.conf", "-spa"}, "single-packet authorization is a feature of mode = sealed"},
		{[]string{"-key", "k", "-flag0", "1"}, "remote: not set"},
		{[]string{"-key", "k", "-flag0", "1", "-test"}, "client: not set, and without remote"},
		{[]string{"-conf", "testdata/sealed.conf", "-duration", "90s"}, "1m30s cannot be sealed"},
		{[]string{"-conf", "testdata/sealed.conf", "-kdfsalt", "short"}, `-kdfsalt "short": at least 8 bytes`},
		{[]string{"-conf", "testdata/sealed.conf", "-verify", "-openprotocol", "udp"}, "cannot tell whether a UDP port is open"},
		{[]string{"-conf", "testdata/sealed.conf", "-keyfile", "testdata/none.key"}, `-keyfile "testdata/none.key": no such file`},
	} {
		r := newRig(t, tc.args...)
		err := r.run(t)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
		if errors.Is(err, client.ErrSend) || len(r.net.Sent()) != 0 {
			t.Errorf("%v: a configuration error sent %v or is a send error: %v", tc.args, r.net.Sent(), err)
		}
	}
}

// Out-of-range numbers stop at loading, before the client plans anything.
func TestConfigurationRanges(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-conf", "testdata/knockclient.conf", "-retry", "-1"}, `-retry "-1": -1 is out of range: expected 0 to 100`},
		{[]string{"-conf", "testdata/sealed.conf", "-kdfmemory", "1024"}, `-kdfmemory "1024": 1024 is out of range: expected 8192 to 1048576`},
	} {
		if _, err := settings.Load(settings.Client, tc.args, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestSendErrors(t *testing.T) {
	r := newRig(t, "-conf", "testdata/knockclient.conf", "-remote", "nowhere.example")
	if err := r.run(t); !errors.Is(err, client.ErrSend) || !strings.Contains(err.Error(), `-remote "nowhere.example": lookup nowhere.example: no such host`) {
		t.Fatalf("unresolvable remote: %v", err)
	}
	r = newRig(t, "-conf", "testdata/knockclient.conf")
	r.net.SendErr = errors.New("network is unreachable")
	if err := r.run(t); !errors.Is(err, client.ErrSend) || !strings.Contains(err.Error(), "knock 1 of 8 (tcp port 966): network is unreachable") {
		t.Fatalf("send failure: %v", err)
	}
}

// TestVerifyRetries: the port opens after the third knock; the client
// waits half a second, then one, every knock is made afresh, and two
// sealed retries in three go as single-packet authorization.
func TestVerifyRetries(t *testing.T) {
	r := newRig(t, "-conf", "testdata/sealed.conf", "-retry", "5", "-timeout", "0")
	r.net.Open = func(n int, _ netip.AddrPort) bool { return n == 3 }
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if got := r.clock.Sleeps(); !slices.Equal(got, []time.Duration{500 * time.Millisecond, time.Second}) {
		t.Fatalf("backoff %v", got)
	}
	want := netip.AddrPortFrom(remote, 22)
	if got := r.net.Probes(); len(got) != 3 || got[0] != want {
		t.Fatalf("probes %v", got)
	}
	sent := r.net.Ports()
	if n := len(sent) - 2; sent[n] != 62201 || sent[n+1] != 62201 || n < 8 {
		t.Fatalf("a knock over the span, then two SPA datagrams: %v", sent)
	}
	if !strings.Contains(r.stdout.String(), "192.0.2.1:22 is open") || !strings.Contains(r.stderr.String(), "knocking again in 1s (retry 2 of 5)") {
		t.Fatalf("stdout %q stderr %q", r.stdout.String(), r.stderr.String())
	}
}

func TestVerifyClosed(t *testing.T) {
	r := newRig(t, "-conf", "testdata/knockclient.conf", "-retry", "3", "-timeout", "0.3")
	err := r.run(t)
	if !errors.Is(err, client.ErrClosed) || !strings.Contains(err.Error(), "192.0.2.1:22 after 4 knock(s)") {
		t.Fatalf("%v", err)
	}
	var backoff []time.Duration
	for _, d := range r.clock.Sleeps() {
		if d != 300*time.Millisecond { // the pauses between knock packets
			backoff = append(backoff, d)
		}
	}
	if !slices.Equal(backoff, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}) {
		t.Fatalf("backoff %v", backoff)
	}
}

func TestBackoffCapped(t *testing.T) {
	var got []time.Duration
	for n := range 8 {
		got = append(got, client.Backoff(n))
	}
	want := []time.Duration{500, 1000, 2000, 4000, 8000, 16000, 16000, 16000}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%v", got)
	}
}

func TestDumpMasksKey(t *testing.T) {
	r := newRig(t, "-conf", "testdata/knockclient.conf", "-test", "-debug", "-debug", "-port", "23", "-key", "s3cr3t-phrase")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	out := r.stderr.String()
	for _, want := range []string{
		"parameters (configuration file: testdata/knockclient.conf)",
		"key           ********  (command line)",
		"port          23  (command line)",
		"protocol      tcp  (default)",
		"flag0         15  (testdata/knockclient.conf:5)",
		"debug: fields: client=142.103.205.1 port=23 flag0=15 checksum=234",
		"debug: encrypted (Blowfish): ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q", want)
		}
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("the key shows in the dump:\n%s", out)
	}
}
