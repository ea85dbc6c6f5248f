package client_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/client"
	"github.com/portknock/knock/client/clienttest"
	"github.com/portknock/knock/logline"
	"github.com/portknock/knock/source/logfile"
)

// readLog parses every line of path with the daemon's default patterns.
func readLog(t *testing.T, path string) []netip.AddrPort {
	t.Helper()
	hits, err := clienttest.ReadLog(path, logfile.DefaultPatterns)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.AddrPort
	for _, h := range hits {
		out = append(out, netip.AddrPortFrom(h.Src, h.Port))
	}
	return out
}

// TestLogToFile: one line per port, in order, without pause, in the
// default template the daemon's default patterns read.
func TestLogToFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	r := newRig(t, "-conf", "testdata/knockclient.conf", "-logtofile", "-logfile", path, "-fileformat", "")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	hits := readLog(t, path)
	var ports []uint16
	for _, h := range hits {
		ports = append(ports, h.Port())
		if h.Addr() != netip.MustParseAddr("142.103.205.1") {
			t.Fatalf("source %v", h)
		}
	}
	if !slices.Equal(ports, v1) || len(r.clock.Sleeps()) != 0 {
		t.Fatalf("ports %v, pauses %v", ports, r.clock.Sleeps())
	}
	if len(r.net.Sent()) != 0 {
		t.Fatal("logtofile sent packets")
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "Mar  1 12:00:00 localhost kernel: knock: IN=eth0 OUT= SRC=142.103.205.1 DST=192.0.2.1 ") {
		t.Fatalf("first line %q", strings.SplitN(string(data), "\n", 2)[0])
	}
}

// TestLogToFileOriginalFormat: the prototype's own fileformat line, and a
// pattern made from it by the daemon (logline.PatternFor).
func TestLogToFileOriginalFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portknock.log")
	r := newRig(t, "-conf", "testdata/knockclient.conf", "-logtofile", "-logfile", path)
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	pat, err := logline.PatternFor("_DATE_ fw kernel: IN=eth0 OUT= SRC=_CLIENT_ DST=_REMOTE_ PROTO=TCP SPT=_CLIENTPORT_ DPT=_REMOTEPORT_")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := logfile.NewParser([]string{pat})
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, line := range lines {
		hit, err := p.Parse([]byte(line))
		if err != nil || hit.Port != v1[i] {
			t.Fatalf("line %d %q: %+v, %v", i, line, hit, err)
		}
	}
}

// TestLogLinesNeverInterleave: writers appending at once leave whole
// lines, every one of which the daemon reads.
func TestLogLinesNeverInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kern.log")
	const writers, lines = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := netip.AddrFrom4([4]byte{10, 0, 0, byte(w + 1)})
			s, err := client.OpenFileSender(path, "", src, remote, clienttest.NewClock(start), clienttest.NewRand(byte(w)))
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			for i := range lines {
				if err := s.Send(client.Packet{Proto: knock.TCP, Port: uint16(1000 + i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	hits := readLog(t, path)
	if len(hits) != writers*lines {
		t.Fatalf("%d lines, want %d", len(hits), writers*lines)
	}
	next := map[netip.Addr]uint16{}
	for _, h := range hits {
		if want := 1000 + next[h.Addr()]; h.Port() != want {
			t.Fatalf("%v out of order: want port %d", h, want)
		}
		next[h.Addr()]++
	}
}

func TestLogFileErrors(t *testing.T) {
	r := newRig(t, "-conf", "testdata/knockclient.conf", "-logtofile", "-logfile", "/nonexistent/dir/kern.log")
	err := r.run(t)
	if err == nil || !strings.Contains(err.Error(), `-logfile "/nonexistent/dir/kern.log": no such file or directory`) {
		t.Fatalf("%v", err)
	}
	path := filepath.Join(t.TempDir(), "kern.log")
	r = newRig(t, "-conf", "testdata/knockclient.conf", "-logtofile", "-logfile", path, "-fileformat", "knock to _REMOTEPORT_")
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stderr.String(), "warning: fileformat: ") || !strings.Contains(r.stderr.String(), "has no _CLIENT_") {
		t.Fatalf("stderr %q", r.stderr.String())
	}
}

func ExampleOpenFileSender() {
	clock := clienttest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	path := filepath.Join(os.TempDir(), fmt.Sprintf("knock-example-%d.log", os.Getpid()))
	defer os.Remove(path)
	s, _ := client.OpenFileSender(path, "_DATE_ SRC=_CLIENT_ DST=_REMOTE_ SPT=_CLIENTPORT_ DPT=_REMOTEPORT_",
		netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.1.1.2"), clock, clienttest.NewRand(0))
	s.Send(client.Packet{Proto: knock.TCP, Port: 966})
	s.Close()
	data, _ := os.ReadFile(path)
	fmt.Print(string(data))
	// Output: Mar  1 12:00:00 SRC=10.1.1.1 DST=10.1.1.2 SPT=32769 DPT=966
}
