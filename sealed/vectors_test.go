package sealed_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/vector"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

// The vectors of version 1, and those of version 2 and the keyring.
const (
	vectorGlob   = "testdata/vectors/*.txt"
	vectorV2Glob = "testdata/vectors-v2/*.txt"
)

// allVectors reads both directories; each must hold vectors.
func allVectors(tb testing.TB) []vector.Vector {
	tb.Helper()
	var out []vector.Vector
	for _, g := range []string{vectorGlob, vectorV2Glob} {
		vs, err := vector.Glob(g)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, vs...)
	}
	return out
}

// errReplay is what the vectors' replay set says of a second sighting.
var errReplay = errors.New("replay")

// TestVectors runs every file under testdata/vectors (made by
// internal/gen): the positive ones must open to the fields they list and
// seal back to the same bytes; the negative ones must fail for the reason
// they name. The v2-* ones, under testdata/vectors-v2 (they list users),
// are opened by a Keyring.
func TestVectors(t *testing.T) {
	for _, v := range allVectors(t) {
		t.Run(strings.TrimSuffix(v.Name, ".txt"), func(t *testing.T) {
			t.Log(v.Comment)
			switch {
			case v.Has("passphrase"):
				checkKDF(t, v)
				return
			case v.Has("key-text"):
				if _, err := sealed.ParseKey(v.Get("key-text")); err == nil {
					t.Fatal("ParseKey accepts it")
				} else if strings.Contains(err.Error(), v.Get("key-text")) {
					t.Fatalf("the error quotes the key: %v", err)
				}
				return
			case v.Has("users"):
				checkKeyringVector(t, v)
				return
			}
			key := vectorKey(t, v)
			m, b, err := openVector(t, v, key)
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
			again, err := sealed.SealNonce(key, m)
			if err != nil || !bytes.Equal(again, b) {
				t.Errorf("sealed again: %x, %v; want %x", again, err, b)
			}
		})
	}
}

// checkKDF derives the vector's key from its passphrase and parameters.
func checkKDF(t *testing.T, v vector.Vector) {
	p := sealed.KDF{
		Time:    uint32(vectorInt(t, v, "kdf-time")),
		Memory:  uint32(vectorInt(t, v, "kdf-memory")),
		Threads: uint8(vectorInt(t, v, "kdf-threads")),
		Salt:    v.Get("kdf-salt"),
	}
	key, err := p.Derive(v.Get("passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	if got := sealed.FormatKey(key); got != v.Get("key") {
		t.Errorf("derived %s, want %s", got, v.Get("key"))
	}
}

func reason(err error) string {
	if errors.Is(err, errReplay) {
		return "replay"
	}
	if err == nil {
		return "ok"
	}
	return sealed.Reason(err)
}

func vectorKey(t *testing.T, v vector.Vector) *sealed.Key {
	t.Helper()
	key, err := sealed.ParseKey(v.Get("key"))
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	return key
}

// openVector gets the message bytes from the vector (sealed, ports or
// spa) and opens them as many times as it says, through one replay set.
func openVector(t *testing.T, v vector.Vector, key *sealed.Key) (sealed.Message, []byte, error) {
	t.Helper()
	b, err := vectorBytes(t, v)
	if err != nil {
		return sealed.Message{}, nil, err
	}
	now := time.Unix(int64(vectorInt(t, v, "now")), 0)
	window := time.Duration(vectorInt(t, v, "window")) * time.Second
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
	for range times {
		if m, err = sealed.OpenFrom(key, b, src, now, window); err != nil {
			break
		}
		if seen[m.ReplayID()] {
			return m, b, errReplay
		}
		seen[m.ReplayID()] = true
	}
	return m, b, err
}

func vectorBytes(t *testing.T, v vector.Vector) ([]byte, error) {
	t.Helper()
	switch {
	case v.Has("spa"):
		return sealed.ParseSPA(hexField(t, v, "spa"))
	case v.Has("ports"):
		span, err := portspan.Parse(v.Get("span"))
		if err != nil {
			t.Fatal(err)
		}
		ports := v.Ports(t, "ports")
		b, err := sealed.Decode(span, ports)
		if err == nil && !slices.Equal(sealed.Encode(span, b), ports) {
			t.Errorf("encode: %v, want %v", sealed.Encode(span, b), ports)
		}
		if err == nil && v.Has("sealed") && !bytes.Equal(b, hexField(t, v, "sealed")) {
			t.Errorf("decoded %x, want %s", b, v.Get("sealed"))
		}
		return b, err
	}
	return hexField(t, v, "sealed"), nil
}

func checkFields(t *testing.T, v vector.Vector, m sealed.Message) {
	t.Helper()
	id := m.ReplayID()
	got := map[string]string{
		"client":    m.Client.String(),
		"implicit":  yesNo(m.Implicit),
		"port":      strconv.Itoa(int(m.Port)),
		"proto":     m.Proto,
		"duration":  m.Duration.String(),
		"close":     yesNo(m.Close),
		"time":      strconv.FormatInt(m.Time.Unix(), 10),
		"nonce":     strconv.Itoa(int(m.Nonce)),
		"replay-id": hex.EncodeToString(id[:]),
	}
	for k, g := range got {
		if want := v.Get(k); g != want {
			t.Errorf("%s: got %q, want %q", k, g, want)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func hexField(t *testing.T, v vector.Vector, k string) []byte {
	t.Helper()
	b, err := hex.DecodeString(v.Get(k))
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return b
}

func vectorInt(t *testing.T, v vector.Vector, k string) int {
	t.Helper()
	n, err := strconv.Atoi(v.Get(k))
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return n
}
