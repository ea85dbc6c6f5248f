package engine

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall/firewalltest"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/source"
)

// BenchmarkDecisionUsers is the decision path under a spoofed flood (a
// random source and span port per packet) and under a repeating flood
// (1000 sources whose queues fill, so candidates reach the keyring), for
// a daemon of 1 and of 10,000 sealed users. The cost per packet must not
// grow with the number of users: the keyring finds a candidate's keys
// from its hint.
func BenchmarkDecisionUsers(b *testing.B) {
	for _, n := range []int{1, 10000} {
		clk := &clock{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
		cfg := sealed.KeyringConfig{Server: "gate"}
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		for i := range n {
			var raw [sealed.KeySize]byte
			for j := range raw {
				raw[j] = byte(rng.Uint32())
			}
			k, err := sealed.NewKey(raw[:])
			if err != nil {
				b.Fatal(err)
			}
			cfg.Users = append(cfg.Users, sealed.User{Name: fmt.Sprintf("user%d", i), Keys: []*sealed.Key{k}})
		}
		kr, err := sealed.NewKeyring(cfg, clk.t)
		if err != nil {
			b.Fatal(err)
		}
		kr.Advance(clk.t)
		span, _ := portspan.Parse("40000-40255")
		e, err := New(Config{
			Protocols: []Protocol{&sealed.Protocol{Keyring: kr, Span: span}},
			Protected: []knock.Port{{Proto: knock.TCP, Port: 22}},
		}, Deps{Firewall: firewalltest.New(clk.now), Now: clk.now})
		if err != nil {
			b.Fatal(err)
		}
		for _, flood := range []string{"spoofed", "repeating"} {
			b.Run(fmt.Sprintf("users=%d/%s", n, flood), func(b *testing.B) {
				b.ReportAllocs()
				m := startCPU(b)
				for b.Loop() {
					clk.t = clk.t.Add(time.Microsecond)
					src := netip.AddrFrom4([4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
					if flood == "repeating" {
						src = netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), byte(rng.IntN(250))})
					}
					e.Handle(knockHit(clk.t, src, uint16(40000+rng.IntN(256))))
				}
				m.report(b)
			})
		}
	}
}

func knockHit(t time.Time, src netip.Addr, port uint16) source.Hit {
	return source.Hit{Time: t, Src: src, Proto: knock.TCP, Port: port}
}
