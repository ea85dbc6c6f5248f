package afpacket_test

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portknock/knock"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/sender"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/afpacket"
	"github.com/portknock/knock/source/packet/packettest"
)

// batch is how many packets a flood sends before it waits for the source
// to have them all: below the kernel's backlog of a CPU
// (net.core.netdev_max_backlog, 1000), so that veth drops none, and well
// below what the ring holds.
const batch = 500

// counter counts the hits a source delivers, by port.
type counter struct {
	ports [65536]atomic.Int64
}

func (c *counter) consume(hits <-chan source.Hit) {
	for h := range hits {
		c.ports[h.Port].Add(1)
	}
}

// waitFor waits, generously, until port has had n hits, and returns how
// many it had.
func (c *counter) waitFor(port uint16, n int64) int64 { return c.waitWithin(port, n, 20*time.Second) }

// waitWithin waits until port has had n hits or d has passed.
func (c *counter) waitWithin(port uint16, n int64, d time.Duration) int64 {
	deadline := time.Now().Add(d)
	for c.ports[port].Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return c.ports[port].Load()
}

// started is a source running on a goroutine locked to its thread, whose
// CPU time can then be read: the source's own cost, apart from the
// sender's and the kernel's delivery, which run on the sender's thread.
type started struct {
	hits  *counter
	clock int32 // the reading thread's CPU-time clock
	stop  func() error
}

func start(tb testing.TB, s *afpacket.Source) *started {
	hits := make(chan source.Hit, 4096)
	c := &counter{}
	consumed := make(chan struct{})
	go func() { c.consume(hits); close(consumed) }()
	ctx, cancel := context.WithCancel(context.Background())
	tid, done := make(chan int, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		tid <- unix.Gettid()
		done <- s.Run(ctx, hits)
	}()
	// MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) in the kernel's
	// posix-timers.h: another thread's clock_gettime(CLOCK_THREAD_CPUTIME_ID).
	st := &started{hits: c, clock: int32(^(<-tid))<<3 | 4 | 2}
	st.stop = sync.OnceValue(func() error {
		cancel()
		err := <-done
		close(hits)
		<-consumed
		return err
	})
	tb.Cleanup(func() { st.stop() })
	return st
}

func (st *started) cpu(tb testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(st.clock, &ts); err != nil {
		tb.Fatalf("reading the source thread's CPU time: %v", err)
	}
	return time.Duration(ts.Nano())
}

// udpFlood sends n datagrams of payload to dst:port from one socket in
// the client namespace, batch by batch, calling after(sent) between them.
func udpFlood(tb testing.TB, p *netnstest.Pair, dst netip.Addr, port uint16, payload []byte, n int, after func(sent int)) {
	tb.Helper()
	var conn *net.UDPConn
	if err := p.Client.Do(func() (err error) {
		// Not connected: the host's port unreachable errors do not
		// come back as ECONNREFUSED.
		conn, err = net.ListenUDP("udp", nil)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	to := netip.AddrPortFrom(dst, port)
	for sent := 0; sent < n; {
		for range min(batch, n-sent) {
			if _, err := conn.WriteToUDPAddrPort(payload, to); err != nil {
				tb.Fatalf("datagram %d: %v", sent+1, err)
			}
			sent++
		}
		after(sent)
	}
}

// TestBurst sends thousands of knocks as fast as one socket sends them
// (batch by batch, at the rate veth takes them), TCP SYNs among them:
// every one is delivered, once, and the ring overruns none.
func TestBurst(t *testing.T) {
	p := needNetns(t)
	s := open(t, p, afpacket.Config{Interface: "eth0", Span: packettest.Span(t, "745-1000")})
	st := start(t, s)
	const udp, tcp = 5000, 200
	udpFlood(t, p, p.HostV4, 900, []byte("burst"), udp, func(sent int) { st.hits.waitFor(900, int64(sent)) })
	if err := p.Client.Do(func() error {
		snd := sender.New(p.HostV6)
		for range tcp {
			if err := snd.Send(sender.Packet{Proto: knock.TCP, Port: 901}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The ring delivers in order: once the marker is in, a knock
	// delivered twice would have been too.
	udpFlood(t, p, p.HostV6, 902, []byte("marker"), 1, func(int) {})
	if st.hits.waitFor(902, 1) != 1 {
		t.Fatal("the marker after the burst was not delivered")
	}
	if err := st.stop(); err != nil {
		t.Fatal(err)
	}
	gotUDP, gotTCP := st.hits.ports[900].Load(), st.hits.ports[901].Load()
	c := s.Counters()
	if gotUDP != udp || gotTCP != tcp || c["overruns"] != 0 {
		t.Errorf("%d of %d UDP knocks and %d of %d TCP knocks delivered, %d overruns; counters %v", gotUDP, udp, gotTCP, tcp, c["overruns"], c)
	}
}

// BenchmarkFlood measures the source's CPU time per packet of a flood
// from the client namespace: the thread that runs Run, from the wake-up
// to the hit on the channel (the kernel's filter and its copy into the
// ring run on the sender's side and are not counted). "knocks" pass the
// kernel filter and become hits; "filtered" go to a port outside the span
// and never wake the source. Each iteration is one packet; the process's
// CPU time per packet (sender and kernel included) is reported too.
//
//	go test -run XXX -bench Flood -benchtime 200000x ./source/afpacket
func BenchmarkFlood(b *testing.B) {
	for _, tc := range []struct {
		name string
		port uint16
	}{
		{"knocks", 900},
		{"filtered", 2000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := needNetns(b)
			s := open(b, p, afpacket.Config{Interface: "eth0", Span: packettest.Span(b, "745-1000")})
			st := start(b, s)
			var ru0, ru1 unix.Rusage
			unix.Getrusage(unix.RUSAGE_SELF, &ru0)
			cpu0 := st.cpu(b)
			b.ResetTimer()
			udpFlood(b, p, p.HostV4, tc.port, []byte("flood knock"), b.N, func(sent int) {
				if tc.name == "knocks" {
					if got := st.hits.waitFor(tc.port, int64(sent)); got != int64(sent) {
						b.Fatalf("%d of %d knocks delivered", got, sent)
					}
				}
			})
			b.StopTimer()
			cpu := st.cpu(b) - cpu0
			unix.Getrusage(unix.RUSAGE_SELF, &ru1)
			proc := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "source-ns/pkt")
			b.ReportMetric(float64(proc.Nanoseconds())/float64(b.N), "process-ns/pkt")
			if c := s.Counters(); c["overruns"] != 0 {
				b.Errorf("%d overruns", c["overruns"])
			}
		})
	}
}

// TestLinkFlap takes the host's link down and up under a running source:
// the ring survives it, and knocks after it are delivered.
func TestLinkFlap(t *testing.T) {
	p := needNetns(t)
	s := open(t, p, afpacket.Config{Interface: "eth0", Span: packettest.Span(t, "745-1000")})
	st := start(t, s)
	udpFlood(t, p, p.HostV4, 800, []byte("before"), 1, func(int) {})
	if st.hits.waitFor(800, 1) != 1 {
		t.Fatal("no knock before the flap")
	}
	p.Host.MustRun("ip", "link", "set", "eth0", "down")
	p.Host.MustRun("ip", "link", "set", "eth0", "up")
	// The link takes a moment to carry again: knock until one is in.
	deadline := time.Now().Add(20 * time.Second)
	for st.hits.ports[801].Load() == 0 && time.Now().Before(deadline) {
		udpFlood(t, p, p.HostV4, 801, []byte("after"), 1, func(int) {})
		st.hits.waitWithin(801, 1, time.Second)
	}
	if err := st.stop(); err != nil {
		t.Errorf("Run after the flap: %v", err)
	}
	if st.hits.ports[801].Load() == 0 {
		t.Error("no knock delivered after the link came back")
	}
}
