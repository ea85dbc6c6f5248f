package client_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/client"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
)

func sealedKey(t *testing.T, args ...string) *sealed.Key {
	t.Helper()
	s, err := settings.Load(settings.Client, append([]string{"-conf", "testdata/sealed.conf"}, args...), nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.SealedKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSealedKnock: the sealed message goes over the span and opens with
// the key the daemon derives from the same settings.
func TestSealedKnock(t *testing.T) {
	r := newRig(t, "-conf", "testdata/sealed.conf", "-timeout", "0")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	span, _ := portspan.Parse("2000-2255")
	b, err := sealed.Decode(span, r.net.Ports())
	if err != nil {
		t.Fatal(err)
	}
	m, err := sealed.Open(sealedKey(t), b, start, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if m.Client != netip.MustParseAddr("198.51.100.7") || m.Port != 22 || m.Proto != sealed.TCP || m.Duration != 10*time.Minute || m.Close || !m.Time.Equal(start) {
		t.Fatalf("%+v", m)
	}
}

// TestSPA: -spa sends one datagram to spaport, whatever protocol says.
func TestSPA(t *testing.T) {
	r := newRig(t, "-conf", "testdata/sealed.conf", "-spa", "-close", "-openprotocol", "udp", "-port", "1194")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	sent := r.net.Sent()
	if len(sent) != 1 || sent[0].Proto != knock.UDP || sent[0].Port != 62201 || sent[0].Remote != remote {
		t.Fatalf("sent %v", sent)
	}
	b, err := sealed.ParseSPA(sent[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sealed.Open(sealedKey(t), b, start, time.Minute)
	if err != nil || !m.Close || m.Duration != 0 || m.Proto != sealed.UDP || m.Port != 1194 {
		t.Fatalf("%+v, %v", m, err)
	}
	if len(r.clock.Sleeps()) != 0 {
		t.Fatalf("a single datagram paused %v", r.clock.Sleeps())
	}
}

func TestKeygenAndKeyfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sealed.key")
	r := newRig(t, "-keygen", "-keyfile", path)
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v: want mode 0600", st, err)
	}
	before, _ := os.ReadFile(path)
	if err := newRig(t, "-keygen", "-keyfile", path).run(t); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("second -keygen: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the key file changed")
	}
	// The file works as keyfile, for knocking and decoding.
	r = newRig(t, "-conf", "testdata/sealed.conf", "-keyfile", path, "-test")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	seq := strings.TrimSpace(r.stdout.String())
	r = newRig(t, "-conf", "testdata/sealed.conf", "-keyfile", path, "-decode", seq)
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stdout.String(), `"client":"198.51.100.7"`) || !strings.Contains(r.stdout.String(), `"tag":true},"valid":true`) {
		t.Fatalf("decode %s", r.stdout.String())
	}
	// Without keyfile, -keygen prints the key.
	r = newRig(t, "-keygen")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if _, err := sealed.ParseKeyFile(r.stdout.Bytes()); err != nil {
		t.Fatalf("stdout %q: %v", r.stdout.String(), err)
	}
}

// TestDecodeSealed: the fields, the tag and the time window.
func TestDecodeSealed(t *testing.T) {
	r := newRig(t, "-conf", "testdata/sealed.conf", "-test")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	seq := strings.TrimSpace(r.stdout.String())
	key := sealedKey(t)
	span, _ := portspan.Parse("2000-2255")
	ports, err := client.ParseSequence(seq)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.DecodeSealed(key, span, ports, netip.Addr{}, start.Add(30*time.Second), time.Minute)
	if err != nil || !res.Valid || res.Values.Get("skew") != int64(-30) || res.Values.Get("duration") != int64(600) {
		t.Fatalf("%+v, %v", res, err)
	}
	res, err = client.DecodeSealed(key, span, ports, netip.Addr{}, start.Add(5*time.Minute), time.Minute)
	if !errors.Is(err, client.ErrUndecodable) || res.Valid || res.Reason != knock.ReasonStale || res.Values.Get("port") != uint16(22) || !strings.HasPrefix(res.Why, "timestamp before the window: sealed 300s before now") {
		t.Fatalf("expired: %+v, %v", res, err)
	}
	other := sealedKey(t, "-key", "another passphrase")
	res, err = client.DecodeSealed(other, span, ports, netip.Addr{}, start, time.Minute)
	out, _ := json.Marshal(res)
	if !errors.Is(err, client.ErrUndecodable) || string(out) != `{"values":{"mode":"sealed","client":"198.51.100.7","tag":false},"valid":false,"reason":"auth","why":"authentication failed"}` {
		t.Fatalf("wrong key: %s, %v", out, err)
	}
	if _, err := client.DecodeSealed(key, span, ports[1:], netip.Addr{}, start, time.Minute); !errors.Is(err, client.ErrUndecodable) || !strings.Contains(err.Error(), "(malformed)") {
		t.Fatalf("short: %v", err)
	}
}
