package command

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkOpen measures Open running /bin/true as the start command, for
// the same grant (rescheduling its stop) and for a new grant each time.
func BenchmarkOpen(b *testing.B) {
	for _, same := range []bool{true, false} {
		name := map[bool]string{true: "same", false: "new"}[same]
		b.Run(name, func(b *testing.B) {
			bk, _ := newBackend(b, Config{Start: "/bin/true %IP% %PORT%", Stop: "/bin/true %IP%"})
			ctx := context.Background()
			i := 0
			for b.Loop() {
				a := client
				if !same {
					a = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				}
				if err := bk.Open(ctx, grant(a, time.Hour)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
