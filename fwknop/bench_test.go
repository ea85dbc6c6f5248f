package fwknop_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/portknock/knock/fwknop"
	"github.com/portknock/knock/fwknop/internal/fko"
)

// BenchmarkMatchValid decides a valid packet (one stanza: an HMAC, one
// decryption, the inner digest, the rules).
func BenchmarkMatchValid(b *testing.B) {
	st, _ := fwknop.ParseAccess("access.conf", []byte("SOURCE ANY\nKEY k1\nHMAC_KEY h1\n"))
	m, _ := fwknop.NewMatcher(st, fwknop.Options{})
	p := []byte(packet("k1", "h1", fko.SHA256, "192.0.2.1,tcp/22", 0))
	for b.Loop() {
		if _, err := m.Match(p, src, netip.Addr{}, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatchGarbage decides base64 garbage of the largest
// Rijndael-sized kind against one stanza, and against the most stanzas
// a matcher takes, all admitting the source: the flood's cost.
func BenchmarkMatchGarbage(b *testing.B) {
	for _, n := range []int{1, fwknop.DefaultMaxStanzas} {
		b.Run(map[int]string{1: "1-stanza", fwknop.DefaultMaxStanzas: "64-stanzas"}[n], func(b *testing.B) {
			st, _ := fwknop.ParseAccess("access.conf", []byte(strings.Repeat("SOURCE ANY\nKEY k1\nHMAC_KEY h1\n", n)))
			m, _ := fwknop.NewMatcher(st, fwknop.Options{})
			p := []byte(strings.Repeat("A", fwknop.MinGPGPacket-1))
			for b.Loop() {
				if _, err := m.Match(p, src, netip.Addr{}, testNow); err == nil {
					b.Fatal("garbage accepted")
				}
			}
		})
	}
}

// BenchmarkMatchNotBase64 decides a payload refused before any HMAC.
func BenchmarkMatchNotBase64(b *testing.B) {
	st, _ := fwknop.ParseAccess("access.conf", []byte("SOURCE ANY\nKEY k1\nHMAC_KEY h1\n"))
	m, _ := fwknop.NewMatcher(st, fwknop.Options{})
	p := []byte(strings.Repeat("!", fwknop.MaxPacket))
	for b.Loop() {
		m.Match(p, src, netip.Addr{}, testNow)
	}
}
