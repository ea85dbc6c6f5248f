package sealed_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

// Protocol.Decode unpacks without allocating; it must agree with Decode
// and OpenFrom on every candidate: valid knocks, garbage of every length
// the first look lets through, and last ports carrying too many bits.
func TestProtocolDecodeAgrees(t *testing.T) {
	key, err := sealed.NewKey(bytes.Repeat([]byte{3}, sealed.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	src := netip.MustParseAddr("10.1.2.3")
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range []string{"40000-40255", "40000-44095", "20000-52767", "40000-40015"} {
		span, err := portspan.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		p := &sealed.Protocol{Key: key, Span: span}
		want := func(ports []uint16) knock.Reason {
			b, err := sealed.Decode(span, ports)
			if err != nil {
				return knock.ReasonMalformed
			}
			if _, err := sealed.OpenFrom(key, b, src, now, sealed.DefaultWindow); err != nil {
				return sealed.ReasonOf(err)
			}
			return ""
		}
		for _, m := range []sealed.Message{{Implicit: true, Client: src}, {Client: src}, {Client: netip.MustParseAddr("fd00::1")}} {
			m.Port, m.Proto, m.Time, m.Nonce = 22, "tcp", now, 9
			b, err := sealed.SealNonce(key, m)
			if err != nil {
				t.Fatal(err)
			}
			ports := sealed.Encode(span, b)
			if _, err := p.Decode(ports, src, now); err != nil {
				t.Fatalf("%s: a valid knock refused: %v", s, err)
			}
			for i := 0; i < 300; i++ {
				bad := append([]uint16(nil), ports...)
				bad[rng.IntN(len(bad))] = span.Port(rng.IntN(span.Size()))
				if i%3 == 0 {
					bad[len(bad)-1] = span.Port(span.Size() - 1)
				}
				_, err := p.Decode(bad, src, now)
				if got, w := knock.ReasonOf(err), want(bad); got != w && !(err == nil && w == "") {
					t.Fatalf("%s: %v decoded as %q (%v), want %q", s, bad, got, err, w)
				}
			}
		}
		if _, err := p.Decode([]uint16{1, 2, 3}, src, now); !errors.Is(err, sealed.ErrMalformed) {
			t.Fatalf("%s: ports outside the span: %v", s, err)
		}
	}
}
