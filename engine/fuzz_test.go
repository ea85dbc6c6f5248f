package engine

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall/firewalltest"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/tracker"
)

// countingLegacy is the real legacy protocol, counting its decodes.
type countingLegacy struct {
	*legacy.Protocol
	decodes int
}

func (c *countingLegacy) Decode(ports []uint16, src netip.Addr, now time.Time) (knock.Request, error) {
	c.decodes++
	return c.Protocol.Decode(ports, src, now)
}

// FuzzEngine sends the hits the input spells (three bytes each: source
// and span, port, milliseconds since the last hit) to an engine reading
// the legacy knock on 745-1000 and the sealed knock on 40000-40255, with
// keys the input cannot know. Nothing may open, and no hit may cost more
// decodes than its protocol's bound.
func FuzzEngine(f *testing.F) {
	f.Add(bytes.Repeat([]byte{4, 0x12, 0}, 200)) // the audit's flood
	f.Add(bytes.Repeat([]byte{4, 0x10, 1, 4, 0xff, 1, 4, 0xff, 1}, 60))
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{30, 300, 3000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 3*4000 {
			in = in[:3*4000]
		}
		codec, err := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "a key the fuzzer does not know", Span: "745-1000"})
		if err != nil {
			t.Fatal(err)
		}
		key, err := sealed.NewKey(bytes.Repeat([]byte{0x5a}, sealed.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		span, _ := portspan.Parse("40000-40255")
		leg := &countingLegacy{Protocol: &legacy.Protocol{Codec: codec, TimeField: "FLAG0", Window: time.Minute, ReplayTTL: time.Hour}}
		seal := &counting{Protocol: &sealed.Protocol{Key: key, Span: span}}
		clk := &clock{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
		fw := firewalltest.New(clk.now)
		e, err := New(Config{Protocols: []Protocol{leg, seal}, Protected: []knock.Port{{Proto: "tcp", Port: 22}}, CheckClient: true},
			Deps{Trackers: tracker.Config{Probation: 64, Active: 16}, Firewall: fw, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		legBound, sealBound := len(leg.Lengths()), len(seal.Lengths())+SkipCost(seal)
		for ; len(in) >= 3; in = in[3:] {
			src := netip.AddrFrom4([4]byte{10, 0, 0, in[0] & 3})
			port := 745 + uint16(in[1])
			if in[0]&4 != 0 {
				port = 40000 + uint16(in[1])
			}
			clk.t = clk.t.Add(time.Duration(in[2]) * time.Millisecond * time.Duration(1+in[0]>>3))
			l, s := leg.decodes, seal.decodes
			e.Handle(source.Hit{Time: clk.t, Src: src, Proto: knock.TCP, Port: port})
			if d := leg.decodes - l; d > legBound {
				t.Fatalf("a legacy hit cost %d decodes, bound %d", d, legBound)
			}
			if d := seal.decodes - s; d > sealBound {
				t.Fatalf("a sealed hit cost %d decodes, bound %d", d, sealBound)
			}
		}
		e.acts.drain()
		if len(fw.Log) != 0 || e.m.Accepted() != 0 {
			t.Fatalf("input opened: %v", fw.Log)
		}
	})
}
