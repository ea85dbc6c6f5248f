package sealed_test

import (
	"crypto/rand"
	"fmt"
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

// BenchmarkKeyringOpen: a version 2 message through a keyring of 1 user
// and of 10,000; the cost must not grow with the users. valid opens;
// forged has a real hint and a wrong tag (the MAC checks of its slot);
// garbage is random bytes of the right length (mostly a map miss).
func BenchmarkKeyringOpen(b *testing.B) {
	now := time.Unix(1767225600, 0)
	for _, n := range []int{1, 10000} {
		us := users(b, 1)
		if n > 1 {
			us = bigUsers(b)
		}
		r, err := sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, now)
		if err != nil {
			b.Fatal(err)
		}
		good := knockAt(b, sender(b, us[len(us)/2], 0, gate), now, 7)
		forged := append([]byte(nil), good...)
		forged[len(forged)-1] ^= 1
		garbage := make([][]byte, 1024)
		for i := range garbage {
			garbage[i] = make([]byte, sealed.SizeV2IPv4)
			rand.Read(garbage[i])
			garbage[i][0] = 0x21
		}
		for _, c := range []struct {
			name string
			msgs [][]byte
			ok   bool
		}{{"valid", [][]byte{good}, true}, {"forged", [][]byte{forged}, false}, {"garbage", garbage, false}} {
			b.Run(fmt.Sprintf("%s/users=%d", c.name, n), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := r.Open(c.msgs[i%len(c.msgs)], netip.Addr{}, now); (err == nil) != c.ok {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}

// BenchmarkKeyringBuild: the table of one bucket for 10,000 users, one
// key each: what Advance does once a minute. B/op is the table's size
// with its garbage.
func BenchmarkKeyringBuild(b *testing.B) {
	us := bigUsers(b)
	now := time.Unix(1767225600, 0)
	r, err := sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, now)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(sealed.HintPeriod)
		r.Advance(now)
	}
}

// BenchmarkNewKeyring: start-up for 10,000 users (three HKDF per key,
// and five tables).
func BenchmarkNewKeyring(b *testing.B) {
	us := bigUsers(b)
	now := time.Unix(1767225600, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sealed.NewKeyring(sealed.KeyringConfig{Server: gate, Users: us}, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSenderSeal(b *testing.B) {
	s := sender(b, users(b, 1)[0], 0, gate)
	m := benchMessages["ipv4"]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(m, rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}
