package nflog_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/sender"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/nflog"
	"github.com/portknock/knock/source/packet/packettest"
)

// BenchmarkFlood sends b.N UDP knocks as fast as the client can and
// reports the process's CPU time per packet (sender included) and the
// share delivered, the rest being overruns.
//
//	go test -run XXX -bench Flood -benchtime 200000x ./source/nflog
func BenchmarkFlood(b *testing.B) {
	for _, batch := range []int{1, 32} {
		b.Run(map[int]string{1: "batch1", 32: "batch32"}[batch], func(b *testing.B) {
			p := needNetns(b)
			hits := make(chan source.Hit, 1024)
			s := start(b, p, nflog.Config{Span: packettest.Span(b, "745-1000"), Batch: batch}, hits)
			got := make(chan int)
			stop := make(chan struct{})
			go func() {
				n := 0
				for {
					select {
					case <-hits:
						n++
					case <-stop:
						got <- n
						return
					}
				}
			}()
			var r0, r1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
			b.ResetTimer()
			err := p.Client.Do(func() error {
				snd := sender.New(p.HostV4)
				defer snd.Close()
				pkt := sender.Packet{Proto: knock.UDP, Port: 800, Payload: []byte("single packet knock")}
				for range b.N {
					if err := snd.Send(pkt); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) && s.Counters()["packets_seen"]+s.Counters()["overruns"] < uint64(b.N) {
				time.Sleep(10 * time.Millisecond)
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
			close(stop)
			n := <-got
			cpu := time.Duration(syscall.TimevalToNsec(r1.Utime) - syscall.TimevalToNsec(r0.Utime) + syscall.TimevalToNsec(r1.Stime) - syscall.TimevalToNsec(r0.Stime))
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/pkt")
			b.ReportMetric(100*float64(n)/float64(b.N), "delivered-%")
		})
	}
}
