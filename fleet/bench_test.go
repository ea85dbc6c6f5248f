package fleet

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// benchGate is a gate without Run: claims only.
func benchGate(b *testing.B, url string, edit ...func(*Config)) *Fleet {
	b.Helper()
	cfg := Config{URL: url, Fleet: "bench", Gate: "g", Group: "edge", Key: testKey,
		Credentials: Credentials{User: "gate", Password: "gate-secret"}}
	for _, e := range edit {
		e(&cfg)
	}
	f, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

var benchSeq atomic.Uint64

func benchID() [32]byte {
	var id [32]byte
	binary.BigEndian.PutUint64(id[:], benchSeq.Add(1))
	binary.BigEndian.PutUint64(id[8:], uint64(time.Now().UnixNano()))
	return id
}

// claimLatency claims b.N fresh IDs one after the other, as the engine's
// one ordered worker does, and reports the median and 99th percentile.
func claimLatency(b *testing.B, f *Fleet) {
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		fresh, err := f.Claim(ctx, benchID(), until)
		lat = append(lat, time.Since(start))
		if err != nil || !fresh {
			b.Fatal(fresh, err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "µs-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "µs-p99")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

func BenchmarkClaimLoopback(b *testing.B) {
	srv := startRedis(b, "127.0.0.1", aclConf...)
	claimLatency(b, benchGate(b, "redis://"+srv.addr()))
	serverCost(b, srv, "set")
}

// serverCost reports Redis's own CPU time per call of cmd.
func serverCost(b *testing.B, srv *server, cmd string) {
	info, err := srv.admin("gate", "gate-secret").Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":"); ok {
			for _, kv := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(kv, "usec_per_call="); ok {
					f, _ := strconv.ParseFloat(v, 64)
					b.ReportMetric(f, "server-µs/"+cmd)
				}
			}
		}
	}
}

// BenchmarkPublish is the cost of sending one grant (one MULTI: ZADD,
// ZREMRANGEBYSCORE, PEXPIRE, XADD, PEXPIRE), with no gate reading.
func BenchmarkPublish(b *testing.B) {
	srv := startRedis(b, "127.0.0.1", aclConf...)
	f := benchGate(b, "redis://"+srv.addr())
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		g := Grant{User: "user" + strconv.Itoa(i), Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
			Proto: "tcp", Port: 22, Until: time.Now().Add(time.Hour)}
		if err := f.Publish(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for _, c := range []string{"zadd", "xadd", "exec"} {
		serverCost(b, srv, c)
	}
	info, _ := srv.admin("gate", "gate-secret").MemoryUsage(ctx, f.keyGrants).Result()
	if n, _ := srv.admin("gate", "gate-secret").ZCard(ctx, f.keyGrants).Result(); n > 0 {
		b.ReportMetric(float64(info)/float64(n), "bytes/live-grant")
	}
}

// BenchmarkClaimLoopbackWait1 adds WAIT 1 with one replica attached.
func BenchmarkClaimLoopbackWait1(b *testing.B) {
	conf := append(aclConf, "masteruser gate", "masterauth gate-secret")
	primary := startRedis(b, "127.0.0.1", conf...)
	startRedis(b, "127.0.0.1", append(conf, "replicaof 127.0.0.1 "+strconv.Itoa(primary.port))...)
	admin := primary.admin("gate", "gate-secret")
	waitFor(b, 20*time.Second, "replica online", func() bool {
		info, _ := admin.Info(context.Background(), "replication").Result()
		return strings.Contains(info, "state=online")
	})
	claimLatency(b, benchGate(b, "redis://"+primary.addr(), func(c *Config) { c.Replicas, c.ReplicaTimeout = 1, time.Second }))
}

// BenchmarkClaimParallel is the throughput of many gates' workers at once
// (GOMAXPROCS×16 goroutines, one connection each).
func BenchmarkClaimParallel(b *testing.B) {
	srv := startRedis(b, "127.0.0.1", aclConf...)
	f := benchGate(b, "redis://"+srv.addr())
	until := time.Now().Add(time.Minute)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if fresh, err := f.Claim(context.Background(), benchID(), until); err != nil || !fresh {
				b.Fatal(fresh, err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

// BenchmarkClaimVeth runs Redis in one namespace and the gate in another,
// over veth.
func BenchmarkClaimVeth(b *testing.B) {
	testenv.NeedRoot(b)
	p := netnstest.NewPair(b)
	srv := startRedisIn(b, p.Host, p.HostV4.String(), 6379, aclConf...)
	claimLatency(b, benchGate(b, "redis://"+srv.addr(), func(c *Config) {
		c.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialIn(p.Client, ctx, network, addr)
		}
	}))
}

// BenchmarkClaimMemory reports what Redis holds per live claim: used
// memory after 100,000 claims (the same SET NX PXAT, pipelined to be
// quick), less before, over their number.
func BenchmarkClaimMemory(b *testing.B) {
	srv := startRedis(b, "127.0.0.1", aclConf...)
	f := benchGate(b, "redis://"+srv.addr(), func(c *Config) { c.Fleet, c.Gate = "prod-eu", "gate-017" })
	admin := srv.admin("gate", "gate-secret")
	ctx := context.Background()
	used := func() float64 {
		info, err := admin.Info(ctx, "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		return infoField(info, "used_memory")
	}
	const n = 100000
	for range b.N {
		admin.FlushAll(ctx)
		before := used()
		until := time.Now().Add(time.Hour)
		for range n / 1000 {
			pipe := admin.Pipeline()
			for range 1000 {
				pipe.SetArgs(ctx, f.claimKey(benchID()), f.cfg.Gate, redis.SetArgs{Mode: "NX", ExpireAt: until})
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric((used()-before)/n, "bytes/claim")
	}
}

func infoField(info, name string) float64 {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
