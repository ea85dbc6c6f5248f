package logfile

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// go test -run XXX -bench . -benchtime 2s ./source/logfile

func BenchmarkParse(b *testing.B) {
	vectors := loadVectors(b)
	var all [][]byte
	for _, v := range vectors {
		if v.patterns == nil {
			all = append(all, []byte(v.line))
		}
	}
	pick := func(want string) [][]byte {
		for _, v := range vectors {
			if v.patterns == nil && strings.HasPrefix(v.want, want) {
				return [][]byte{[]byte(v.line)}
			}
		}
		b.Fatalf("no %s vector", want)
		return nil
	}
	p := mustParser(b, DefaultPatterns)
	for _, bc := range []struct {
		name  string
		lines [][]byte
	}{
		{"knock", pick("tcp")},
		{"not_knock", pick("not_knock")},
		{"unmatched", [][]byte{[]byte("Nov 22 10:30:01 gate sshd[812]: Accepted publickey for root from 10.77.9.2 port 50764 ssh2")}},
		{"vectors", all},
	} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				p.Parse(bc.lines[i%len(bc.lines)])
				i++
			}
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkThroughput reads lines already in a file, from the file to the
// hits.
func BenchmarkThroughput(b *testing.B) {
	path := tempLog(b)
	var sb strings.Builder
	for i := range 1 << 16 {
		sb.WriteString(knockLine(i))
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	lines := 0
	for b.Loop() {
		src, err := New(Config{Path: path, FromStart: true, PollOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		r := startSource(b, src)
		for range 1 << 16 {
			<-r.out
		}
		r.stop()
		lines += 1 << 16
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkLatency appends one knock line at a time and waits for its hit:
// the time from the write to the hit, woken by inotify, or by polling
// every 10 ms. When polling, each write comes just after the tick that
// delivered the line before, so the median is nearly the whole interval:
// the worst case, not the average.
func BenchmarkLatency(b *testing.B) {
	for _, m := range []struct {
		name string
		cfg  Config
	}{
		{"inotify", Config{Poll: time.Hour}},
		{"poll10ms", Config{Poll: 10 * time.Millisecond, PollOnly: true}},
	} {
		b.Run(m.name, func(b *testing.B) {
			path := tempLog(b)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			cfg := m.cfg
			cfg.Path = path
			src, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			r := startSource(b, src)
			line := []byte(knockLine(1))
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				f.Write(line)
				<-r.out
				took = append(took, time.Since(t0))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
