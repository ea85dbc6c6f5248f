package fwknop_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/portknock/knock/fwknop"
	"github.com/portknock/knock/fwknop/internal/fko"
	"github.com/portknock/knock/internal/vector"
)

// The fuzz stanzas: one CBC stanza with an HMAC, one legacy without, so
// that fuzzed payloads reach the decrypter too.
const fuzzConf = `SOURCE ANY
KEY fuzz key
HMAC_KEY fuzz hmac key
SOURCE ANY
KEY legacy key
ENCRYPTION_MODE legacy
`

// FuzzDecode feeds the SPA decoder: each input as a payload, and each
// input as a plaintext sealed with the fuzz stanza's keys (so every check
// after the HMAC sees it). Seeded with every vector's packet, and the
// plaintexts of the vectors that decrypt.
func FuzzDecode(f *testing.F) {
	vs, err := vector.Glob(vectorGlob)
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		f.Add([]byte(v.Get("packet")))
		if pt := vectorPlaintext(v); pt != nil {
			f.Add(pt)
		}
	}
	st, err := fwknop.ParseAccess("fuzz.conf", []byte(fuzzConf))
	if err != nil {
		f.Fatal(err)
	}
	m, err := fwknop.NewMatcher(st, fwknop.Options{})
	if err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddr("2001:db8::1")
	f.Fuzz(func(t *testing.T, data []byte) {
		sealed := fko.Seal(fko.SHA256, []byte("fuzz hmac key"), fko.Encrypt(data, []byte("fuzz key"), fko.CBC, []byte("saltsalt")))
		for _, p := range [][]byte{data, []byte(sealed)} {
			a, err := m.Match(p, src, netip.Addr{}, testNow)
			if err != nil {
				if !slices.Contains(fwknop.Reasons, fwknop.ReasonOf(err)) {
					t.Fatalf("an error without a known reason: %v", err)
				}
				continue
			}
			if !a.Addr.IsValid() || a.Addr.IsUnspecified() || len(a.Ports) == 0 || a.Duration <= 0 {
				t.Fatalf("accepted with %+v", a)
			}
		}
		if msg, err := fko.Parse(data); err == nil && (len(msg.Random) != fko.RandomDigits || msg.User == "") {
			t.Fatalf("parsed to %+v", msg)
		}
	})
}

// vectorPlaintext decrypts a vector's packet with its keys, or nil.
func vectorPlaintext(v vector.Vector) []byte {
	st, err := fwknop.ParseAccess("v.conf", []byte(vectorConf(v)))
	if err != nil {
		return nil
	}
	text := v.Get("packet")
	if st[0].HMACKey != nil {
		var ok bool
		if text, ok = fko.Verify(st[0].HMACDigest, st[0].HMACKey, text); !ok {
			return nil
		}
	}
	pt, err := fko.Decrypt(text, st[0].Key, st[0].Mode)
	if err != nil {
		return nil
	}
	return pt
}

// FuzzAccessConf feeds the access.conf parser, seeded with every file
// under testdata/access and every vector's stanza.
func FuzzAccessConf(f *testing.F) {
	names, _ := filepath.Glob("testdata/access/*.conf")
	more, _ := filepath.Glob("testdata/access/*/*.conf")
	names = append(names, more...)
	if len(names) == 0 {
		f.Fatal("no seeds under testdata/access")
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	vs, err := vector.Glob(vectorGlob)
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		f.Add([]byte(vectorConf(v)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := fwknop.ParseAccess("fuzz.conf", data)
		if err != nil {
			return
		}
		for _, s := range st {
			if len(s.Key) == 0 || len(s.Sources) == 0 || s.Pos.Line < 1 || s.AccessTimeout <= 0 || s.MaxTimeout <= 0 {
				t.Fatalf("stanza %+v", s)
			}
			if s.HMACKey == nil && s.Mode != fwknop.Legacy {
				t.Fatalf("a CBC stanza without an HMAC key at %s", s.Pos)
			}
		}
	})
}
