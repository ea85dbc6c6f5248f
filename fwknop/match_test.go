package fwknop_test

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/fwknop"
	"github.com/portknock/knock/fwknop/internal/fko"
)

var testNow = time.Unix(1767225600, 0)

// packet seals an access request the way the 2.6 client does.
func packet(key, hmacKey string, d fko.Digest, access string, timeout int) string {
	m := fko.Message{Random: "1234567890123456", User: "alice", Timestamp: testNow.Unix(),
		Version: fko.Version, Type: fko.AccessMsg, Access: access, ClientTimeout: timeout, Digest: fko.SHA256}
	return fko.Seal(d, []byte(hmacKey), fko.Encrypt(fko.Encode(m), []byte(key), fko.CBC, []byte("12345678")))
}

func matcher(t *testing.T, conf string) *fwknop.Matcher {
	t.Helper()
	st, err := fwknop.ParseAccess("access.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	m, err := fwknop.NewMatcher(st, fwknop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var src = netip.MustParseAddr("198.51.100.1")

// TestFirstAuthenticStanzaWins: stanzas whose SOURCE does not admit the
// packet are skipped, those whose HMAC fails are passed over, and the
// first that verifies names the access.
func TestFirstAuthenticStanzaWins(t *testing.T) {
	m := matcher(t, `SOURCE 10.0.0.0/8
KEY k3
HMAC_KEY h3
SOURCE ANY
KEY k1
HMAC_KEY h1
SOURCE 198.51.100.0/24
KEY k2
HMAC_KEY h2
SOURCE ANY
KEY k2
HMAC_KEY h2
OPEN_PORTS tcp/80
`)
	a, err := m.Match([]byte(packet("k2", "h2", fko.SHA256, "0.0.0.0,tcp/22", 0)), src, netip.Addr{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "alice@access.conf:7" || a.Stanza.Pos.Line != 7 || a.Addr != src {
		t.Fatalf("name %q, address %s", a.Name, a.Addr)
	}
	_, err = m.Match([]byte(packet("k9", "h9", fko.SHA256, "0.0.0.0,tcp/22", 0)), src, netip.Addr{}, testNow)
	if fwknop.ReasonOf(err) != fwknop.ReasonAuth || !strings.Contains(err.Error(), "3 stanzas tried") {
		t.Fatalf("got %v, want one auth error for the three candidates", err)
	}
	_, err = m.Match([]byte(packet("k3", "h3", fko.SHA256, "0.0.0.0,tcp/22", 0)), src, netip.Addr{}, testNow)
	if fwknop.ReasonOf(err) != fwknop.ReasonAuth {
		t.Fatalf("got %v, want auth: the only stanza with these keys does not admit the source", err)
	}
}

func TestExpiredStanzaFallsThrough(t *testing.T) {
	conf := "SOURCE ANY\nKEY k1\nHMAC_KEY h1\nACCESS_EXPIRE_EPOCH 1000\n"
	p := []byte(packet("k1", "h1", fko.SHA256, "192.0.2.1,udp/53", 0))
	if _, err := matcher(t, conf).Match(p, src, netip.Addr{}, testNow); fwknop.ReasonOf(err) != fwknop.ReasonExpired {
		t.Fatalf("got %v, want expired", err)
	}
	a, err := matcher(t, conf+"SOURCE ANY\nKEY k1\nHMAC_KEY h1\n").Match(p, src, netip.Addr{}, testNow)
	if err != nil || a.Stanza.Pos.Line != 5 {
		t.Fatalf("got %v, %v; want the second stanza", a, err)
	}
}

func TestReplayID(t *testing.T) {
	p := packet("k1", "h1", fko.SHA512, "192.0.2.1,tcp/22", 0)
	a, err := matcher(t, "SOURCE ANY\nKEY k1\nHMAC_KEY h1\nHMAC_DIGEST_TYPE sha512\n").Match([]byte(p), src, netip.Addr{}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256([]byte(p[:len(p)-86])); a.ReplayID != want {
		t.Fatalf("replay id %x, want SHA-256 of the text before the HMAC", a.ReplayID)
	}
	if !a.ReplayUntil.Equal(testNow.Add(fwknop.DefaultMaxAge)) {
		t.Fatalf("replay until %v", a.ReplayUntil)
	}
}

func TestClientTimeoutCapped(t *testing.T) {
	m := matcher(t, "SOURCE ANY\nKEY k1\nHMAC_KEY h1\nMAX_FW_TIMEOUT 100\nFW_ACCESS_TIMEOUT 10\n")
	for timeout, want := range map[int]time.Duration{0: 10 * time.Second, 60: 60 * time.Second, 65536: 100 * time.Second} {
		a, err := m.Match([]byte(packet("k1", "h1", fko.SHA256, "192.0.2.1,tcp/22", timeout)), src, netip.Addr{}, testNow)
		if err != nil || a.Duration != want {
			t.Errorf("client timeout %d: %v, %v; want %v", timeout, a, err, want)
		}
	}
}

func TestMaxAgeOption(t *testing.T) {
	st, _ := fwknop.ParseAccess("access.conf", []byte("SOURCE ANY\nKEY k1\nHMAC_KEY h1\n"))
	m, _ := fwknop.NewMatcher(st, fwknop.Options{MaxAge: 10 * time.Second})
	p := []byte(packet("k1", "h1", fko.SHA256, "192.0.2.1,tcp/22", 0))
	if _, err := m.Match(p, src, netip.Addr{}, testNow.Add(11*time.Second)); fwknop.ReasonOf(err) != fwknop.ReasonStale {
		t.Fatalf("got %v, want stale", err)
	}
}

func TestTooManyStanzas(t *testing.T) {
	conf := strings.Repeat("SOURCE ANY\nKEY k1\nHMAC_KEY h1\n", 3)
	st, err := fwknop.ParseAccess("access.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fwknop.NewMatcher(st, fwknop.Options{MaxStanzas: 2}); err == nil {
		t.Fatal("3 stanzas accepted with MaxStanzas 2")
	}
}

// TestWorstCaseGarbage sends the costliest garbage: a maximum-size
// payload from a source every one of the most stanzas admits. It costs
// DefaultMaxStanzas HMACs and is refused once, for auth.
func TestWorstCaseGarbage(t *testing.T) {
	conf := strings.Repeat("SOURCE ANY\nKEY k1\nHMAC_KEY h1\n", fwknop.DefaultMaxStanzas)
	m := matcher(t, conf)
	p := []byte(strings.Repeat("A", fwknop.MinGPGPacket-1))
	_, err := m.Match(p, src, netip.Addr{}, testNow)
	if fwknop.ReasonOf(err) != fwknop.ReasonAuth {
		t.Fatalf("got %v, want auth", err)
	}
	p = []byte(strings.Repeat("A", fwknop.MaxPacket))
	if _, err := m.Match(p, src, netip.Addr{}, testNow); fwknop.ReasonOf(err) != fwknop.ReasonGPG {
		t.Fatalf("got %v, want gpg", err)
	}
}

func TestReasonsComplete(t *testing.T) {
	seen := map[fwknop.Reason]bool{}
	for _, r := range fwknop.Reasons {
		if seen[r] || r == "" || strings.ToLower(string(r)) != string(r) {
			t.Errorf("reason %q: duplicate, empty or not lower case", r)
		}
		seen[r] = true
	}
}

func TestSecretFileMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.conf")
	os.WriteFile(path, []byte("SOURCE ANY\nKEY a-secret-key\nHMAC_KEY another\n"), 0o600)
	if _, err := fwknop.ReadAccess(path); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	_, err := fwknop.ReadAccess(path)
	if err == nil || !strings.Contains(err.Error(), "mode 0644") || !strings.Contains(err.Error(), "needs 0600") {
		t.Fatalf("got %v, want a refusal naming 0644 and 0600", err)
	}
	if strings.Contains(err.Error(), "a-secret-key") {
		t.Fatalf("the error shows the key: %v", err)
	}
	// A file without keys may be readable: it only includes.
	inc := filepath.Join(dir, "main.conf")
	os.WriteFile(inc, []byte("%include access.conf\n"), 0o644)
	os.Chmod(path, 0o600)
	if _, err := fwknop.ReadAccess(inc); err != nil {
		t.Fatal(err)
	}
}

func TestParseAccessReadsNoInclude(t *testing.T) {
	_, err := fwknop.ParseAccess("x.conf", []byte("%include /etc/passwd\n"))
	if err == nil || !strings.Contains(err.Error(), "x.conf:1: %include: includes are not read here") {
		t.Fatalf("got %v", err)
	}
}

func TestIncludeOrder(t *testing.T) {
	dir := privateCopy(t)
	st, err := fwknop.ReadAccess(filepath.Join(dir, "good-include.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range st {
		got = append(got, strings.TrimPrefix(s.Pos.String(), dir+"/"))
	}
	want := "good-include.conf:2 inc/one.conf:1 folder/a.conf:1 folder/b.conf:1"
	if strings.Join(got, " ") != want {
		t.Fatalf("stanzas at %v, want %s", got, want)
	}
	if st[0].RequireUser != "alice" {
		t.Fatal("REQUIRE_USERNAME after the %include does not belong to the first stanza")
	}
	for _, s := range []string{st[0].String(), fmt.Sprintf("%v %+v %#v", st[0], st[0], st[0])} {
		if strings.Contains(s, "first key") || strings.Contains(s, "102 105 114") {
			t.Fatalf("formatting shows the key: %s", s)
		}
	}
}

func TestDestination(t *testing.T) {
	p := []byte(packet("k1", "h1", fko.SHA256, "192.0.2.1,tcp/22", 0))
	for conf, want := range map[string]fwknop.Reason{
		"DESTINATION ANY\n":            "",
		"DESTINATION 203.0.113.0/24\n": "",
		"DESTINATION 203.0.113.9\n":    fwknop.ReasonSource,
	} {
		m := matcher(t, "SOURCE ANY\nKEY k1\nHMAC_KEY h1\n"+conf)
		if _, err := m.Match(p, src, netip.MustParseAddr("203.0.113.1"), testNow); fwknop.ReasonOf(err) != want {
			t.Errorf("%q: got %v, want %q", conf, err, want)
		}
	}
	// An unknown destination passes DESTINATION ANY only.
	if _, err := matcher(t, "SOURCE ANY\nKEY k1\nHMAC_KEY h1\nDESTINATION ANY\n").Match(p, src, netip.Addr{}, testNow); err != nil {
		t.Errorf("DESTINATION ANY, unknown destination: %v", err)
	}
	if _, err := matcher(t, "SOURCE ANY\nKEY k1\nHMAC_KEY h1\nDESTINATION 0.0.0.0/0\n").Match(p, src, netip.Addr{}, testNow); fwknop.ReasonOf(err) != fwknop.ReasonSource {
		t.Errorf("DESTINATION 0.0.0.0/0, unknown destination: %v", err)
	}
}

func TestAccessExpireDate(t *testing.T) {
	st, err := fwknop.ParseAccess("a.conf", []byte("SOURCE ANY\nKEY k1\nHMAC_KEY h1\nACCESS_EXPIRE 01/02/2031\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2031, 1, 2, 0, 0, 0, 0, time.Local); !st[0].Expire.Equal(want) {
		t.Fatalf("expire %v, want %v", st[0].Expire, want)
	}
}
