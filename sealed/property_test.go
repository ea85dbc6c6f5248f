package sealed_test

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portknock/knock/sealed"
)

// testKey is a fixed key for tests that need no particular one.
func testKey(t testing.TB) *sealed.Key {
	t.Helper()
	k, err := sealed.NewKey(bytes.Repeat([]byte{0x5a}, sealed.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomMessage(r *rand.Rand) sealed.Message {
	var a netip.Addr
	if r.IntN(2) == 0 {
		var b [4]byte
		fill(r, b[:])
		a = netip.AddrFrom4(b)
	} else {
		var b [16]byte
		fill(r, b[:])
		a = netip.AddrFrom16(b).Unmap()
	}
	m := sealed.Message{
		Client:   a,
		Implicit: r.IntN(3) == 0,
		Port:     uint16(1 + r.IntN(65535)),
		Proto:    []string{sealed.TCP, sealed.UDP}[r.IntN(2)],
		Close:    r.IntN(4) == 0,
		Time:     time.Unix(r.Int64N(1<<40), 0).UTC(),
		Nonce:    uint16(r.IntN(sealed.MaxNonce + 1)),
	}
	if !m.Close {
		units := []time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour}
		m.Duration = time.Duration(r.IntN(64)) * units[r.IntN(4)]
	}
	return m
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// sameMessage compares the exported fields, times by instant.
func sameMessage(a, b sealed.Message) bool {
	return a.Client == b.Client && a.Implicit == b.Implicit && a.Port == b.Port && a.Proto == b.Proto &&
		a.Duration == b.Duration && a.Close == b.Close && a.Time.Equal(b.Time) && a.Nonce == b.Nonce
}

// TestRoundTripAndEveryBitFlip: for random messages, Open(Seal(m)) is m,
// within the window on either side; and flipping any single bit of the
// sealed bytes makes Open fail.
func TestRoundTripAndEveryBitFlip(t *testing.T) {
	key := testKey(t)
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	window := sealed.DefaultWindow
	for i := range 300 {
		m := randomMessage(r)
		b, err := sealed.SealNonce(key, m)
		if err != nil {
			t.Fatalf("message %d: seal %+v: %v", i, m, err)
		}
		now := m.Time.Add(time.Duration(r.Int64N(int64(2*window+time.Second))) - window)
		got, err := sealed.OpenFrom(key, b, m.Client, now, window)
		if err != nil || !sameMessage(got, m) {
			t.Fatalf("message %d: open %x at %v: %+v, %v; want %+v", i, b, now, got, err, m)
		}
		for bit := range 8 * len(b) {
			bad := bytes.Clone(b)
			bad[bit/8] ^= 0x80 >> (bit % 8)
			if _, err := sealed.OpenFrom(key, bad, m.Client, now, window); err == nil {
				t.Fatalf("message %d: %x with bit %d flipped opens", i, b, bit)
			}
		}
	}
}

// TestSealDrawsNonce: Seal takes the nonce from its randomness, 14 bits of
// two bytes, and fails when there is none.
func TestSealDrawsNonce(t *testing.T) {
	key := testKey(t)
	m := sealed.Message{Client: netip.MustParseAddr("192.0.2.1"), Port: 22, Proto: sealed.TCP, Time: time.Unix(1e9, 0), Nonce: 5}
	b, err := sealed.Seal(key, m, bytes.NewReader([]byte{0xff, 0xfe}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := sealed.Open(key, b, m.Time, time.Minute)
	if err != nil || got.Nonce != 0x3ffe {
		t.Errorf("nonce %#x, %v; want 0x3ffe", got.Nonce, err)
	}
	if _, err := sealed.Seal(key, m, bytes.NewReader(nil)); err == nil {
		t.Error("Seal with no randomness: no error")
	}
}

// TestConcurrentUse: one key seals and opens from many goroutines (run
// with -race).
func TestConcurrentUse(t *testing.T) {
	key := testKey(t)
	done := make(chan error)
	for g := range 4 {
		go func() {
			r := rand.New(rand.NewChaCha8([32]byte{byte(g)}))
			for range 200 {
				m := randomMessage(r)
				b, err := sealed.SealNonce(key, m)
				if err == nil {
					_, err = sealed.OpenFrom(key, b, m.Client, m.Time, time.Minute)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
