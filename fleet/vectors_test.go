package fleet

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/internal/vector"
)

// The vectors under testdata/vectors are written by the generator below:
//
//	go test ./fleet -run TestVectors -update
//
// and TestVectors checks that the generator still writes exactly them.
var update = flag.Bool("update", false, "rewrite testdata/vectors")

var (
	vecKey = []byte("fleet test vector key, 32 bytes!")
	vecNow = time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
)

func vecGrant() message {
	return message{kind: kindGrant, issued: vecNow.Add(-time.Second), until: vecNow.Add(time.Hour),
		addr: netip.MustParseAddr("192.0.2.7"), proto: knock.TCP, port: 22,
		fleet: "prod", group: "edge", gate: "gate-1", user: "alice"}
}

type vec struct {
	name, comment string
	b             []byte
	expect        error // nil: accepted
}

// signed tags raw bytes with the vector key: structure errors behind a
// valid signature, which only a holder of the key could write.
func signRaw(b []byte) []byte { return tag(vecKey, b) }

func edit(m message, f func(*message)) message { f(&m); return m }

func rawEdit(f func(b []byte) []byte) []byte { return signRaw(f(vecGrant().encode())) }

func generate(t *testing.T) []vec {
	t.Helper()
	s := func(m message) []byte {
		b, err := seal(vecKey, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g := s(vecGrant())
	flip := func(b []byte, i int) []byte { c := append([]byte{}, b...); c[i] ^= 1; return c }
	return []vec{
		{"ok-grant-ipv4", "A grant of tcp/22 to an IPv4 address.", g, nil},
		{"ok-grant-ipv6-udp-no-user", "A grant without a user, to IPv6, UDP.", s(edit(vecGrant(), func(m *message) {
			m.addr, m.proto, m.port, m.user = netip.MustParseAddr("2001:db8::1"), knock.UDP, 51820, ""
		})), nil},
		{"ok-revoke-user", "A revocation of a user's grants.", s(edit(vecGrant(), func(m *message) {
			m.kind, m.addr, m.proto, m.port = kindRevoke, netip.Addr{}, "", 0
		})), nil},
		{"ok-revoke-addr", "A revocation of an address's grants.", s(edit(vecGrant(), func(m *message) {
			m.kind, m.proto, m.port, m.user = kindRevoke, "", 0, ""
		})), nil},
		{"bad-empty", "Nothing.", nil, ErrMalformed},
		{"bad-text", "Not a message at all.", []byte("open sesame"), ErrMalformed},
		{"bad-magic", "Another format's header.", signRaw(append([]byte("KFG2"), vecGrant().encode()[4:]...)), ErrMalformed},
		{"bad-unsigned", "The tag cut off.", g[:len(g)-tagLen], ErrMalformed},
		{"bad-wrong-key", "Signed with another key.", tag([]byte("another key, also thirty-two b.."), vecGrant().encode()), ErrForged},
		{"bad-flipped-tag", "One bit of the tag flipped.", flip(g, len(g)-1), ErrForged},
		{"bad-flipped-port", "One bit of the port flipped after signing.", flip(g, 40), ErrForged},
		{"bad-flipped-until", "Until moved after signing.", flip(g, 18), ErrForged},
		{"bad-appended", "A byte after the tag.", append(append([]byte{}, g...), 0), ErrForged},
		{"bad-expired", "Signed, but its time is over.", s(edit(vecGrant(), func(m *message) {
			m.issued, m.until = vecNow.Add(-2*time.Hour), vecNow.Add(-time.Hour)
		})), ErrStale},
		{"bad-until-now", "Ends exactly now.", s(edit(vecGrant(), func(m *message) { m.until = vecNow })), ErrStale},
		{"bad-future", "Issued beyond the allowed clock skew.", s(edit(vecGrant(), func(m *message) {
			m.issued, m.until = vecNow.Add(2*time.Minute), vecNow.Add(time.Hour)
		})), ErrStale},
		{"bad-too-long", "Runs longer than the fleet's max grant.", s(edit(vecGrant(), func(m *message) { m.until = m.issued.Add(25 * time.Hour) })), ErrStale},
		{"bad-other-group", "For another group.", s(edit(vecGrant(), func(m *message) { m.group = "core" })), ErrForeign},
		{"bad-other-fleet", "For another fleet.", s(edit(vecGrant(), func(m *message) { m.fleet = "staging" })), ErrForeign},
		{"bad-kind", "Signed, an unknown kind.", rawEdit(func(b []byte) []byte { b[4] = 3; return b }), ErrMalformed},
		{"bad-family", "Signed, an unknown address family.", rawEdit(func(b []byte) []byte { b[21] = 5; return b }), ErrMalformed},
		{"bad-ipv4-padding", "Signed, IPv4 with bytes in its padding.", rawEdit(func(b []byte) []byte { b[37] = 1; return b }), ErrMalformed},
		{"bad-no-family-bytes", "Signed, no family but address bytes.", rawEdit(func(b []byte) []byte { b[21] = 0; return b }), ErrMalformed},
		{"bad-mapped", "Signed, an IPv4-mapped IPv6 address.", rawEdit(func(b []byte) []byte {
			b[21] = familyV6
			copy(b[22:38], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7})
			return b
		}), ErrMalformed},
		{"bad-proto", "Signed, protocol 99.", rawEdit(func(b []byte) []byte { b[38] = 99; return b }), ErrMalformed},
		{"bad-port-zero", "Signed, a grant of port 0.", rawEdit(func(b []byte) []byte { b[39], b[40] = 0, 0; return b }), ErrMalformed},
		{"bad-unspecified", "Signed, a grant to 0.0.0.0.", rawEdit(func(b []byte) []byte { copy(b[22:26], []byte{0, 0, 0, 0}); return b }), ErrMalformed},
		{"bad-until-before-issued", "Signed, until before issued.", signRaw(edit(vecGrant(), func(m *message) { m.until = m.issued.Add(-time.Second) }).encode()), ErrMalformed},
		{"bad-revoke-both", "Signed, a revocation of a user and an address.", signRaw(edit(vecGrant(), func(m *message) {
			m.kind, m.proto, m.port = kindRevoke, "", 0
		}).encode()), ErrMalformed},
		{"bad-revoke-port", "Signed, a revocation naming a port.", signRaw(edit(vecGrant(), func(m *message) {
			m.kind, m.addr = kindRevoke, netip.Addr{}
		}).encode()), ErrMalformed},
		{"bad-empty-gate", "Signed, no gate name.", signRaw(edit(vecGrant(), func(m *message) { m.gate = "" }).encode()), ErrMalformed},
		{"bad-trailing", "Signed, a byte after the names.", rawEdit(func(b []byte) []byte { return append(b, 0) }), ErrMalformed},
		{"bad-truncated-name", "Signed, the user's name cut short.", rawEdit(func(b []byte) []byte { return b[:len(b)-1] }), ErrMalformed},
		{"bad-name-too-long", "Signed, a name length past the end.", rawEdit(func(b []byte) []byte { b[41] = 200; return b }), ErrMalformed},
	}
}

func TestVectors(t *testing.T) {
	vs := generate(t)
	dir := filepath.Join("testdata", "vectors")
	if *update {
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
		for _, v := range vs {
			if err := os.WriteFile(filepath.Join(dir, v.name+".txt"), []byte(format(v)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, v := range vs {
		got, err := os.ReadFile(filepath.Join(dir, v.name+".txt"))
		if err != nil || string(got) != format(v) {
			t.Errorf("%s: testdata differs from the generator (%v); run: go test ./fleet -run TestVectors -update", v.name, err)
		}
	}
	files, err := vector.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(vs) {
		t.Errorf("%d vector files, the generator writes %d", len(files), len(vs))
	}
	f := &Fleet{cfg: Config{Fleet: "prod", Group: "edge", Key: vecKey, MaxGrant: 24 * time.Hour, MaxSkew: time.Minute}}
	for _, v := range files {
		t.Run(v.Name, func(t *testing.T) {
			b := hexField(t, v, "message")
			now, err := time.Parse(time.RFC3339, v.Get("now"))
			if err != nil {
				t.Fatal(err)
			}
			f.cfg.Key = hexField(t, v, "key")
			m, err := f.accept(b, now)
			want := v.Get("expect")
			if got := verdict(err); got != want {
				t.Fatalf("got %s (%v), want %s", got, err, want)
			}
			if err != nil {
				return
			}
			if got := describe(m); got != v.Get("decoded") {
				t.Errorf("decoded\n got %s\nwant %s", got, v.Get("decoded"))
			}
			again, err := seal(f.cfg.Key, m)
			if err != nil || string(again) != string(b) {
				t.Errorf("re-sealing gives other bytes (%v): the encoding is not canonical", err)
			}
		})
	}
}

func verdict(err error) string {
	for _, e := range []struct {
		err  error
		name string
	}{{ErrMalformed, "malformed"}, {ErrForged, "forged"}, {ErrStale, "stale"}, {ErrForeign, "foreign"}} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	if err != nil {
		return "error " + err.Error()
	}
	return "ok"
}

func describe(m message) string {
	kind := map[byte]string{kindGrant: "grant", kindRevoke: "revoke"}[m.kind]
	return fmt.Sprintf("%s fleet=%s group=%s gate=%s user=%q addr=%s port=%s/%d issued=%s until=%s",
		kind, m.fleet, m.group, m.gate, m.user, m.addr, m.proto, m.port,
		m.issued.UTC().Format(time.RFC3339Nano), m.until.UTC().Format(time.RFC3339Nano))
}

func format(v vec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\nkey:      %s\nnow:      %s\nmessage:  %s\nexpect:   %s\n",
		v.comment, hex.EncodeToString(vecKey), vecNow.Format(time.RFC3339), hex.EncodeToString(v.b), verdict(v.expect))
	if v.expect == nil {
		m, err := open(vecKey, v.b)
		if err != nil {
			panic(v.name + ": " + err.Error())
		}
		fmt.Fprintf(&b, "decoded:  %s\n", describe(m))
	}
	return b.String()
}

// FuzzOpen feeds open any bytes: it must not panic, and whatever it
// accepts must seal again to the same bytes (one encoding per message).
func FuzzOpen(f *testing.F) {
	files, err := vector.Glob(filepath.Join("testdata", "vectors", "*.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range files {
		f.Add(hexField(f, v, "message"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := open(vecKey, b)
		if err != nil {
			return
		}
		again, err := seal(vecKey, m)
		if err != nil || string(again) != string(b) {
			t.Fatalf("accepted %x, seals again to %x (%v)", b, again, err)
		}
	})
}

func hexField(tb testing.TB, v vector.Vector, k string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(v.Get(k))
	if err != nil {
		tb.Fatalf("%s: %s: %v", v.Name, k, err)
	}
	return b
}
