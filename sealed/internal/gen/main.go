// Command gen writes the sealed knock's test vectors, deterministically:
// fixed keys, times and nonces, so that running it again reproduces every
// file byte for byte (TestGenerateReproduces checks).
//
//	cd sealed && go run ./internal/gen
//
// It seals with its own few lines of HMAC and HKDF, written from
// docs/sealed.md rather than from package sealed, so the vectors check
// the package against a second reading of the specification. Most vectors
// are negative: one bit flipped in each field, wrong key, time outside
// the window, replay, truncation, extension, wrong version, authentic but
// out-of-range fields, bad SPA framing, bad port sequences. The v2-*
// vectors, in their own directory (testdata/vectors-v2, so that readers
// of version 1's vectors elsewhere, such as the Knock Lab's tests, are
// not handed a version they do not know), add the keyring: wrong user key, user name or server name, the
// hint of another user, a bucket rotated out, unknown flags, rollover.
package main

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/portknock/knock/portspan"
)

// t0 is 2026-01-01T00:00:00Z, the time of most vectors.
const t0 = 1767225600

var (
	keyA = seededKey("sealed test key A")
	keyB = seededKey("sealed test key B")
)

func seededKey(s string) []byte { b := sha256.Sum256([]byte(s)); return b[:] }

// msg is a message as the specification lays it out.
type msg struct {
	addr     netip.Addr
	implicit bool
	port     uint16
	udp      bool
	code     byte // duration code
	close    bool
	time     int64
	nonce    uint16
}

func (m msg) header() byte {
	switch {
	case m.implicit:
		return 0x10
	case m.addr.Is4():
		return 0x11
	}
	return 0x12
}

func (m msg) body() []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(m.time))
	b = binary.BigEndian.AppendUint16(b, m.port)
	b = append(b, m.code)
	f := m.nonce
	if m.close {
		f |= 0x8000
	}
	if m.udp {
		f |= 0x4000
	}
	return binary.BigEndian.AppendUint16(b, f)
}

func mac(key []byte, info string, parts ...[]byte) []byte {
	sub, err := hkdf.Key(sha256.New, key, nil, info, 32)
	if err != nil {
		log.Fatal(err)
	}
	h := hmac.New(sha256.New, sub)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// seal returns the wire bytes and the replay ID (the MAC's first 16 bytes).
func seal(key []byte, m msg) ([]byte, []byte) {
	family := []byte{4}
	if m.addr.Is6() {
		family = []byte{6}
	}
	h := []byte{m.header()}
	body := m.body()
	full := mac(key, "knock sealed v1 authentication", h, family, m.addr.AsSlice(),
		binary.BigEndian.AppendUint64(nil, uint64(m.time)), body)
	tag := full[:8]
	pad := mac(key, "knock sealed v1 encryption", tag)
	out := slices.Clone(h)
	if !m.implicit {
		out = append(out, m.addr.AsSlice()...)
	}
	for i, c := range body {
		out = append(out, c^pad[i])
	}
	return append(out, tag...), full[:16]
}

func keyText(key []byte) string {
	check := sha256.Sum256(append([]byte("knock1-"), key...))
	return "knock1-" + base64.RawURLEncoding.EncodeToString(append(slices.Clone(key), check[:4]...))
}

// vector is one file: comment lines, then fields in order.
type vector struct {
	name    string
	comment string
	fields  [][2]string
}

func (v *vector) set(k, val string) *vector {
	v.fields = append(v.fields, [2]string{k, val})
	return v
}

func (v *vector) text() string {
	var b strings.Builder
	for _, line := range strings.Split(v.comment, "\n") {
		fmt.Fprintf(&b, "# %s\n", line)
	}
	for _, f := range v.fields {
		fmt.Fprintf(&b, "%-12s %s\n", f[0]+":", f[1])
	}
	return b.String()
}

func main() {
	out := flag.String("out", "testdata/vectors", "directory to write the version 1 vectors into")
	out2 := flag.String("out-v2", "testdata/vectors-v2", "directory to write the version 2 (keyring) vectors into")
	flag.Parse()
	if err := write(*out, vectors()); err != nil {
		log.Fatal(err)
	}
	if err := write(*out2, v2Vectors()); err != nil {
		log.Fatal(err)
	}
}

func write(dir string, vs []*vector) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for _, v := range vs {
		if err := os.WriteFile(filepath.Join(dir, v.name+".txt"), []byte(v.text()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// yesNo spells a flag as the vector files do.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func portsText(p []uint16) string {
	s := make([]string, len(p))
	for i, v := range p {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, " ")
}

func mustSpan(s string) *portspan.Span {
	sp, err := portspan.Parse(s)
	if err != nil {
		log.Fatal(err)
	}
	return sp
}
