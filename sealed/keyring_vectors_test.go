package sealed_test

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/vector"
	"github.com/portknock/knock/sealed"
)

// checkKeyringVector runs a v2-* vector: it builds the keyring the vector
// lists, opens the bytes as many times as it says through one replay set,
// and compares the outcome; a positive one must also seal back, by its
// sender, to the same bytes.
func checkKeyringVector(t *testing.T, v vector.Vector) {
	t.Helper()
	now := time.Unix(int64(vectorInt(t, v, "now")), 0)
	r, err := sealed.NewKeyring(vectorKeyring(t, v), now)
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	b, err := vectorBytes(t, v)
	var m sealed.Message
	if err == nil {
		m, err = openKeyringTimes(t, v, r, b, now)
	}
	want := v.Get("expect")
	if want != "ok" {
		if got := reason(err); got != want {
			t.Fatalf("got %q (%v), want %q", got, err, want)
		}
		return
	}
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	checkFields(t, v, m)
	if m.User != v.Get("user") {
		t.Errorf("user %q, want %q", m.User, v.Get("user"))
	}
	if !v.Has("sender-key") { // a version 1 message
		return
	}
	key, err := sealed.ParseKey(v.Get("sender-key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sealed.NewSender(v.Get("sender-user"), key, v.Get("sender-server"))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := s.SealNonce(m); err != nil || !bytes.Equal(again, b) {
		t.Errorf("sealed again: %x, %v; want %x", again, err, b)
	}
}

func vectorKeyring(t *testing.T, v vector.Vector) sealed.KeyringConfig {
	t.Helper()
	cfg := sealed.KeyringConfig{
		Server: v.Get("keyring"),
		Window: time.Duration(vectorInt(t, v, "window")) * time.Second,
	}
	if v.Has("v1-user") {
		cfg.V1User = v.Get("v1-user")
	}
	for _, name := range strings.Fields(v.Get("users")) {
		u := sealed.User{Name: name}
		for _, text := range strings.Fields(v.Get("user-" + name)) {
			k, err := sealed.ParseKey(text)
			if err != nil {
				t.Fatalf("user %s: %v", name, err)
			}
			u.Keys = append(u.Keys, k)
		}
		cfg.Users = append(cfg.Users, u)
	}
	return cfg
}

func openKeyringTimes(t *testing.T, v vector.Vector, r *sealed.Keyring, b []byte, now time.Time) (sealed.Message, error) {
	t.Helper()
	var src netip.Addr
	if v.Has("source") {
		src = netip.MustParseAddr(v.Get("source"))
	}
	times := 1
	if v.Has("times") {
		times = vectorInt(t, v, "times")
	}
	seen := map[[16]byte]bool{}
	var m sealed.Message
	var err error
	for range times {
		if m, err = r.Open(b, src, now); err != nil {
			break
		}
		if seen[m.ReplayID()] {
			return m, errReplay
		}
		seen[m.ReplayID()] = true
	}
	return m, err
}
