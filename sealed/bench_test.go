package sealed_test

import (
	"crypto/rand"
	"net/netip"
	"testing"
	"time"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

var benchMessages = map[string]sealed.Message{
	"implicit": {Client: netip.MustParseAddr("192.0.2.77"), Implicit: true, Port: 22, Proto: sealed.TCP, Duration: 5 * time.Minute, Time: time.Unix(1767225600, 0)},
	"ipv4":     {Client: netip.MustParseAddr("192.0.2.77"), Port: 22, Proto: sealed.TCP, Duration: 5 * time.Minute, Time: time.Unix(1767225600, 0)},
	"ipv6":     {Client: netip.MustParseAddr("2001:db8::77"), Port: 22, Proto: sealed.TCP, Duration: 5 * time.Minute, Time: time.Unix(1767225600, 0)},
}

func BenchmarkSeal(b *testing.B) {
	key := testKey(b)
	m := benchMessages["ipv4"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sealed.Seal(key, m, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen: a valid message, a forgery of the right length (what a
// flood costs: the MAC check), and bytes of the wrong length.
func BenchmarkOpen(b *testing.B) {
	key := testKey(b)
	m := benchMessages["ipv4"]
	good, _ := sealed.SealNonce(key, m)
	forged := append([]byte(nil), good...)
	forged[len(forged)-1] ^= 1
	for _, c := range []struct {
		name string
		b    []byte
		ok   bool
	}{{"valid", good, true}, {"forged", forged, false}, {"wrong-length", good[:7], false}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := sealed.Open(key, c.b, m.Time, time.Minute); (err == nil) != c.ok {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeOpen: the daemon's work for one candidate tail of a
// 4096-port knock, ports to message.
func BenchmarkDecodeOpen(b *testing.B) {
	key := testKey(b)
	sp, _ := portspan.Parse("10000-14095")
	m := benchMessages["ipv4"]
	msg, _ := sealed.SealNonce(key, m)
	ports := sealed.Encode(sp, msg)
	b.ReportAllocs()
	for b.Loop() {
		d, err := sealed.Decode(sp, ports)
		if err == nil {
			_, err = sealed.Open(key, d, m.Time, time.Minute)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKDF derives a key with the default Argon2id parameters; B/op
// shows the memory it takes (64 MiB).
func BenchmarkKDF(b *testing.B) {
	p := sealed.DefaultKDF()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Derive("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(p.Memory)/1024, "MiB-argon2")
}

// BenchmarkPortsPerKnock encodes a sealed message onto each span of the
// table in docs/sealed.md and reports how many ports it took.
func BenchmarkPortsPerKnock(b *testing.B) {
	key := testKey(b)
	for _, span := range []string{"2000-2255", "10000-14095", "1024-5000,6000-25000,26000-35789"} {
		sp, _ := portspan.Parse(span)
		for _, name := range []string{"implicit", "ipv4", "ipv6"} {
			msg, _ := sealed.SealNonce(key, benchMessages[name])
			b.Run(name+"/span"+itoa(sp.Size()), func(b *testing.B) {
				var n int
				for b.Loop() {
					n = len(sealed.Encode(sp, msg))
				}
				b.ReportMetric(float64(n), "ports/knock")
			})
		}
	}
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
