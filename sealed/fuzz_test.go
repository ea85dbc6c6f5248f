package sealed_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/vector"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

// vectorsWith returns the vectors that set field; it fails the fuzz test
// when none does, so that a moved directory cannot leave a target unseeded.
func vectorsWith(f *testing.F, field string) []vector.Vector {
	f.Helper()
	var out []vector.Vector
	for _, v := range allVectors(f) {
		if v.Has(field) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		f.Fatalf("no vector under %s or %s sets %q", vectorGlob, vectorV2Glob, field)
	}
	return out
}

func fuzzKey(f *testing.F) *sealed.Key {
	key, err := sealed.ParseKey(vectorsWith(f, "sealed")[0].Get("key"))
	if err != nil {
		f.Fatal(err)
	}
	return key
}

var fuzzSource = netip.MustParseAddr("198.51.100.9")

// FuzzOpen: any bytes, at any offset from the vectors' time, never panic,
// fail for a named reason, and, when they open, are exactly what SealNonce
// makes of the message: there is one encoding of each message.
func FuzzOpen(f *testing.F) {
	for _, v := range vectorsWith(f, "sealed") {
		b, _ := hex.DecodeString(v.Get("sealed"))
		f.Add(b, int64(0))
	}
	key := fuzzKey(f)
	now := time.Unix(1767225600, 0)
	f.Fuzz(func(t *testing.T, b []byte, skew int64) {
		m, err := sealed.OpenFrom(key, b, fuzzSource, now.Add(time.Duration(skew%100)*time.Second), sealed.DefaultWindow)
		if err != nil {
			if sealed.Reason(err) == "" {
				t.Fatalf("%x: unnamed error %v", b, err)
			}
			return
		}
		again, err := sealed.SealNonce(key, m)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%x opens to %+v, which seals to %x, %v", b, m, again, err)
		}
	})
}

// FuzzDecode: any ports on any span never panic; what decodes has the
// size its header announces and encodes back to the same ports.
func FuzzDecode(f *testing.F) {
	for _, v := range vectorsWith(f, "ports") {
		var raw []byte
		for _, p := range v.Ports(f, "ports") {
			raw = append(raw, byte(p>>8), byte(p))
		}
		f.Add(v.Get("span"), raw)
	}
	f.Fuzz(func(t *testing.T, span string, raw []byte) {
		sp, err := portspan.Parse(span)
		if err != nil {
			return
		}
		ports := make([]uint16, len(raw)/2)
		for i := range ports {
			ports[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
		}
		b, err := sealed.Decode(sp, ports)
		if err != nil {
			if !errors.Is(err, sealed.ErrMalformed) {
				t.Fatalf("%v: %v does not wrap ErrMalformed", ports, err)
			}
			return
		}
		if !slices.Contains(sealed.Lengths(sp), len(ports)) {
			t.Fatalf("%d ports decoded, not one of %v", len(ports), sealed.Lengths(sp))
		}
		if !slices.Equal(sealed.Encode(sp, b), ports) {
			t.Fatalf("%v decodes to %x, which encodes to %v", ports, b, sealed.Encode(sp, b))
		}
	})
}

// FuzzParseSPA: any datagram never panics; what parses is the magic and a
// message of the size its header announces, and marshals back the same.
func FuzzParseSPA(f *testing.F) {
	for _, v := range vectorsWith(f, "spa") {
		d, _ := hex.DecodeString(v.Get("spa"))
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		msg, err := sealed.ParseSPA(d)
		if err != nil {
			if !errors.Is(err, sealed.ErrMalformed) {
				t.Fatalf("%x: %v does not wrap ErrMalformed", d, err)
			}
			return
		}
		if !bytes.Equal(sealed.MarshalSPA(msg), d) {
			t.Fatalf("%x parses to %x, which marshals to %x", d, msg, sealed.MarshalSPA(msg))
		}
	})
}

// FuzzParseKey: any text never panics, a key that parses formats back to
// the same text (spaces around it aside: a key has one text form), and
// it parses as a key file too.
func FuzzParseKey(f *testing.F) {
	for _, v := range vectorsWith(f, "key") {
		f.Add(v.Get("key"))
	}
	for _, v := range vectorsWith(f, "key-text") {
		f.Add(v.Get("key-text"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := sealed.ParseKey(s)
		if err != nil {
			return
		}
		if got := sealed.FormatKey(k); got != strings.TrimSpace(s) {
			t.Fatalf("%q parses, and formats as %q", s, got)
		}
		if _, err := sealed.ParseKeyFile([]byte("# key\n" + s + "\n")); err != nil {
			t.Fatalf("%q parses as a key but not as a key file: %v", s, err)
		}
	})
}

// FuzzKeyringOpen: any bytes, at any offset from the vectors' time, never
// panic through a keyring of three users (one in a key rollover), fail
// for a named reason, and, when they open, name a user of the keyring
// and are exactly what that user's Sender makes of the message with one
// of the user's keys.
func FuzzKeyringOpen(f *testing.F) {
	var ring vector.Vector
	for _, v := range vectorsWith(f, "users") {
		if v.Has("sealed") {
			b, _ := hex.DecodeString(v.Get("sealed"))
			f.Add(b, int64(0))
		}
		if v.Name == "v2-ok-ipv4.txt" {
			ring = v
		}
	}
	if ring.Name == "" {
		f.Fatal("no vector v2-ok-ipv4.txt to take the keyring from")
	}
	cfg := sealed.KeyringConfig{Server: ring.Get("keyring")}
	keys := map[string][]*sealed.Key{}
	for _, name := range strings.Fields(ring.Get("users")) {
		for _, text := range strings.Fields(ring.Get("user-" + name)) {
			k, err := sealed.ParseKey(text)
			if err != nil {
				f.Fatal(err)
			}
			keys[name] = append(keys[name], k)
		}
		cfg.Users = append(cfg.Users, sealed.User{Name: name, Keys: keys[name]})
	}
	now := time.Unix(1767225600, 0)
	r, err := sealed.NewKeyring(cfg, now)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte, skew int64) {
		at := now.Add(time.Duration(skew%200) * time.Second)
		m, err := r.Open(b, fuzzSource, at)
		if err != nil {
			if sealed.Reason(err) == "" {
				t.Fatalf("%x: unnamed error %v", b, err)
			}
			return
		}
		for _, k := range keys[m.User] {
			s, err := sealed.NewSender(m.User, k, cfg.Server)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := s.SealNonce(m); err == nil && bytes.Equal(again, b) {
				return
			}
		}
		t.Fatalf("%x opens to %+v, which no key of user %q seals to the same bytes", b, m, m.User)
	})
}
