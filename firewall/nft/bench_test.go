package nft_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/nft"
	"github.com/portknock/knock/internal/netnstest"
)

// BenchmarkOpen measures grants per second over netlink into a namespace:
// one new element (address) per grant, as a knock storm would make.
func BenchmarkOpen(b *testing.B) {
	be := benchBackend(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if err := be.Open(ctx, firewall.Grant{Addr: addr, Proto: knock.TCP, Port: 22, Duration: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "grants/s")
}

// BenchmarkRefresh measures opening the same grant again and again.
func BenchmarkRefresh(b *testing.B) {
	be := benchBackend(b)
	ctx := context.Background()
	g := grant("192.0.2.1", 22, time.Hour)
	b.ResetTimer()
	for range b.N {
		if err := be.Open(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "grants/s")
}

func benchBackend(b *testing.B) *nft.Backend {
	needKernel(b)
	return setUp(b, netnstest.New(b, "bench"), nft.Config{Protected: ssh})
}

// BenchmarkRefreshPortable measures the add, delete, add refresh kernels
// before 6.12 need: the deletion waits for an RCU grace period.
func BenchmarkRefreshPortable(b *testing.B) {
	be := benchBackend(b)
	nft.UsePortableRefresh(be)
	ctx := context.Background()
	g := grant("192.0.2.1", 22, time.Hour)
	b.ResetTimer()
	for range b.N {
		if err := be.Open(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "grants/s")
}
