package e2e

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/client"
	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/nft"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
	"golang.org/x/sys/unix"
)

// inProcessSealed prepares a daemon that runs in this process with its
// capture and firewall in pair's host namespace: a sealed key, a
// configuration of the span 40000-40255 guarding tcp/22 plus extra lines,
// and a descriptor of the namespace (closed when the test ends).
func inProcessSealed(tb testing.TB, pair *netnstest.Pair, extra string) (*sealed.Key, *settings.Set, int) {
	tb.Helper()
	dir := tb.TempDir()
	key, err := sealed.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	keyfile := filepath.Join(dir, "key")
	os.WriteFile(keyfile, []byte(sealed.FormatKey(key)+"\n"), 0o600)
	conf := filepath.Join(dir, "k.conf")
	os.WriteFile(conf, []byte("mode sealed\nkeyfile "+keyfile+"\nportspan 40000-40255\nprotected tcp/22\nrunmode network\nreplayfile "+dir+"/state/replay\n"+extra), 0o600)
	set, err := settings.Load(settings.Daemon, []string{"-conf", conf}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	fd, err := pair.Host.Open()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	return key, set, fd
}

// timedNFT is the nftables backend, noting when each grant is in place.
type timedNFT struct {
	*nft.Backend
	opened chan time.Time
}

func (b *timedNFT) Open(ctx context.Context, g firewall.Grant) error {
	err := b.Backend.Open(ctx, g)
	select {
	case b.opened <- time.Now():
	default: // nobody waits: a warm-up knock's, or one after the last
	}
	return err
}
func (*timedNFT) Stop(context.Context) error { return nil }
func (*timedNFT) Describe() string           { return "nft, timed" }

// BenchmarkKnockToOpen measures, on real packets between two namespaces,
// the time from the last packet of a sealed knock leaving the client to
// the nftables element being in place: the capture (each in its own
// sub-benchmark: NFLOG, the eBPF first stage, the packet socket's ring),
// the decision, netlink. The daemon runs in this process so both ends read
// one monotonic clock.
//
//	sudo KNOCK_CI=1 go test -run NONE -bench KnockToOpen -benchtime 300x -count 3 ./e2e
func BenchmarkKnockToOpen(b *testing.B) {
	for _, capture := range []string{"nflog", "ebpf", "afpacket"} {
		b.Run(capture, func(b *testing.B) { knockToOpen(b, capture) })
	}
}

// knockToOpen knocks from one address again and again, which the eBPF
// first stage's per-source budget (1024 records per knock timeout) would
// soon cut off: a knock timeout of 100 ms and a pause of 3 ms between
// knocks (at most 34 knocks of 16 packets per timeout) keep the budget out
// of the measurement, for every capture alike.
func knockToOpen(b *testing.B, capture string) {
	testenv.NeedRoot(b)
	pair := netnstest.NewPair(b)
	extra := "duration 1m\nknocktimeout 100ms\ncapture " + capture + "\n"
	if capture != "nflog" {
		extra += "interface eth0\n"
	}
	key, set, fd := inProcessSealed(b, pair, extra)
	nb, err := nft.New(nft.Config{Protected: []knock.Port{{Proto: "tcp", Port: 22}}, NetNSFd: fd})
	if err != nil {
		b.Fatal(err)
	}
	fw := &timedNFT{Backend: nb, opened: make(chan time.Time, 1)}
	d, err := daemon.New(set, daemon.Options{Firewall: fw, Log: slog.New(slog.DiscardHandler),
		Source: daemon.SourceOptions{NetNSFd: fd}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	span, _ := portspan.Parse("40000-40255")
	host, me := netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
	nonce := 0
	// send sends one sealed knock (a nonce of its own for each: a
	// benchmark knocks many times a second, and two equal messages in one
	// second are a replay) and returns when its last packet left.
	send := func() time.Time {
		nonce++
		msg, err := sealed.SealNonce(key, sealed.Message{Client: me, Implicit: true, Port: 22, Proto: "tcp", Time: time.Now(), Nonce: uint16(nonce % sealed.MaxNonce)})
		if err != nil {
			b.Fatal(err)
		}
		var last time.Time
		err = pair.Client.Do(func() error {
			s, err := client.System{}.Sender(host)
			if err != nil {
				return err
			}
			defer s.Close()
			for _, p := range sealed.Encode(span, msg) {
				if err := s.Send(client.Packet{Proto: knock.TCP, Port: p}); err != nil {
					return err
				}
			}
			last = time.Now()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return last
	}
	// Knock until one opens: then the capture is in place, whatever it is.
	for warm := false; !warm; {
		select {
		case <-done:
			b.Fatal("the daemon stopped")
		default:
		}
		send()
		select {
		case <-fw.opened:
			warm = true
		case <-time.After(200 * time.Millisecond):
		}
	}
	// An earlier warm-up knock may open late: let it, and drop its time.
	for late := true; late; {
		select {
		case <-fw.opened:
		case <-time.After(300 * time.Millisecond):
			late = false
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(3 * time.Millisecond)
		last := send()
		select {
		case t := <-fw.opened:
			lat = append(lat, t.Sub(last))
		case <-time.After(5 * time.Second):
			b.Fatalf("knock %d did not open", len(lat)+1)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "ms-p99")
}
