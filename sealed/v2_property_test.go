package sealed_test

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

// TestV2RoundTripAndEveryBitFlip: for random messages (16-bit nonces,
// times anywhere in a bucket), a keyring opens what a sender sealed, as
// that user, from either side of the window; flipping any single bit
// makes it fail; and no other user's sender makes the same bytes.
func TestV2RoundTripAndEveryBitFlip(t *testing.T) {
	us := users(t, 30)
	r := rand.New(rand.NewChaCha8([32]byte{2}))
	window := sealed.DefaultWindow
	for i := range 150 {
		m := randomMessage(r)
		m.Nonce = uint16(r.Uint32())
		u := us[r.IntN(len(us))]
		b, err := sender(t, u, 0, gate).SealNonce(m)
		if err != nil {
			t.Fatalf("message %d: seal %+v: %v", i, m, err)
		}
		if want := sizeV2(m); len(b) != want || sealed.SizeOf(b[0]) != want {
			t.Fatalf("message %d: %d bytes, SizeOf %d, want %d", i, len(b), sealed.SizeOf(b[0]), want)
		}
		now := m.Time.Add(time.Duration(r.Int64N(int64(2*window+time.Second))) - window)
		ring, err := sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ring.Open(b, m.Client, now)
		if err != nil || !sameMessage(got, m) || got.User != u.Name {
			t.Fatalf("message %d: open %x at %v: %+v, %v; want %+v of %s", i, b, now, got, err, m, u.Name)
		}
		for bit := range 8 * len(b) {
			bad := bytes.Clone(b)
			bad[bit/8] ^= 0x80 >> (bit % 8)
			if _, err := ring.Open(bad, m.Client, now); err == nil {
				t.Fatalf("message %d: %x with bit %d flipped opens", i, b, bit)
			}
		}
	}
}

// TestV2NamesLengthPrefixed: user "ab" at server "c" and user "a" at
// server "bc" derive different keys, as do a name and its case.
func TestV2NamesLengthPrefixed(t *testing.T) {
	k := testKey(t)
	m := base
	seen := map[string]string{}
	for _, p := range [][2]string{{"ab", "c"}, {"a", "bc"}, {"abc", ""}, {"Ab", "c"}, {"ab", "C"}} {
		s, err := sealed.NewSender(p[0], k, p[1])
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.SealNonce(m)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[string(b)]; dup {
			t.Errorf("%q at %q seals as %s does", p[0], p[1], other)
		}
		seen[string(b)] = p[0] + "@" + p[1]
	}
}

// TestSenderSealDrawsNonce: Seal takes all 16 bits of its randomness as
// the nonce, and fails when there is none.
func TestSenderSealDrawsNonce(t *testing.T) {
	us := users(t, 1)
	s := sender(t, us[0], 0, gate)
	m := sealed.Message{Client: netip.MustParseAddr("192.0.2.1"), Port: 22, Proto: sealed.TCP, Time: time.Unix(1e9, 0), Nonce: 5}
	b, err := s.Seal(m, bytes.NewReader([]byte{0xff, 0xfe}))
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, m.Time)
	got, err := ring.Open(b, netip.Addr{}, m.Time)
	if err != nil || got.Nonce != 0xfffe {
		t.Errorf("nonce %#x, %v; want 0xfffe", got.Nonce, err)
	}
	if _, err := s.Seal(m, bytes.NewReader(nil)); err == nil {
		t.Error("Seal with no randomness: no error")
	}
}

func sizeV2(m sealed.Message) int {
	switch {
	case m.Implicit:
		return sealed.SizeV2Implicit
	case m.Client.Is4():
		return sealed.SizeV2IPv4
	}
	return sealed.SizeV2IPv6
}

// TestDecodeSharedLength: where a version 1 and a version 2 message take
// as many ports (20 and 21 bytes on 4096 ports; 32 and 33 on 4096 and
// 32768), Decode returns each at its own size, by its header.
func TestDecodeSharedLength(t *testing.T) {
	s := sender(t, users(t, 1)[0], 0, gate)
	for _, span := range []string{"10000-14095", "1024-5000,6000-25000,26000-35789"} {
		sp, err := portspan.Parse(span)
		if err != nil {
			t.Fatal(err)
		}
		for _, client := range []string{"192.0.2.1", "2001:db8::1"} {
			m := base
			m.Client = netip.MustParseAddr(client)
			v1, _ := sealed.SealNonce(testKey(t), m)
			v2, _ := s.SealNonce(m)
			p1, p2 := sealed.Encode(sp, v1), sealed.Encode(sp, v2)
			if len(p1) != len(p2) && !(client == "192.0.2.1" && span != "10000-14095") {
				t.Errorf("%s, %s: %d and %d ports, expected to share", span, client, len(p1), len(p2))
			}
			for _, c := range []struct {
				b []byte
				p []uint16
			}{{v1, p1}, {v2, p2}} {
				got, err := sealed.Decode(sp, c.p)
				if err != nil || !bytes.Equal(got, c.b) {
					t.Errorf("%s, %s: decoded %x, %v; want %x", span, client, got, err, c.b)
				}
			}
		}
	}
}
