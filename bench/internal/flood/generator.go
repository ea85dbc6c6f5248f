package flood

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Bounds every flood obeys, whatever it is asked: a flood that forgets to
// stop must still stop.
const (
	MaxRate     = 1_000_000
	MaxCount    = 50_000_000
	MaxDuration = 10 * time.Minute
	MaxUDP      = 1400 // payload bytes of a UDP flood packet
)

// b64 are the characters of a UDP flood's payload.
const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// Config is one flood.
type Config struct {
	Prefix   netip.Prefix  // spoofed source addresses are drawn from it
	From     netip.Addr    // or, when valid, every packet comes from this one address (an unspoofed source)
	Dst      netip.Addr    // the target
	Ports    []uint16      // destination ports, drawn uniformly
	Rate     float64       // packets per second
	Duration time.Duration // stop after this long (required)
	Count    int           // and after this many packets (0: Rate*Duration)
	Batch    int           // packets per write (default 64)
	Seed     uint64        // of the random sources and ports
	// UDP, when more than 0, makes every packet a UDP datagram carrying
	// that many random base64 characters (garbage that looks like an SPA
	// packet at first sight) instead of a SYN.
	UDP int
}

// Check reports a flood that is unbounded or cannot be built.
func (c Config) Check() error {
	switch {
	case c.From.IsValid() && !c.From.Is4():
		return fmt.Errorf("flood source %q: %w", c.From, ErrNotIPv4)
	case c.From.IsValid():
	case !c.Prefix.IsValid() || !c.Prefix.Addr().Is4():
		return fmt.Errorf("flood prefix %q: want an IPv4 prefix", c.Prefix)
	case c.Prefix.Bits() > 30:
		return fmt.Errorf("flood prefix %q: too few addresses to spoof", c.Prefix)
	}
	switch {
	case !c.Dst.Is4():
		return fmt.Errorf("flood target %q: %w", c.Dst, ErrNotIPv4)
	case len(c.Ports) == 0:
		return errors.New("flood: no destination ports")
	case c.Rate <= 0 || c.Rate > MaxRate:
		return fmt.Errorf("flood rate %g: want 1 to %d packets/s", c.Rate, MaxRate)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("flood duration %s: want more than 0 and at most %s", c.Duration, MaxDuration)
	case c.UDP < 0 || c.UDP > MaxUDP:
		return fmt.Errorf("flood payload %d: want 0 (SYNs) to %d bytes", c.UDP, MaxUDP)
	case c.Count < 0 || c.Count > MaxCount:
		return fmt.Errorf("flood count %d: want at most %d", c.Count, MaxCount)
	}
	return nil
}

// Writer sends a batch of raw IPv4 packets and says how many left.
type Writer interface {
	WriteBatch(pkts [][]byte) (int, error)
}

// Clock is time for the generator; tests pass a fake.
type Clock interface {
	Now() time.Time
	Sleep(d time.Duration)
}

// SystemClock is the real clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time        { return time.Now() }
func (SystemClock) Sleep(d time.Duration) { time.Sleep(d) }

// Stats is what a flood did.
type Stats struct {
	Sent    uint64        `json:"sent"`
	Failed  uint64        `json:"failed"` // packets the socket refused
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Rate is the achieved rate in packets per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

// Sources draws random addresses of a prefix.
type Sources struct {
	base  uint32
	hosts uint32 // number of addresses in the prefix
	rng   *rand.Rand
}

// NewSources draws from p (IPv4) with a seeded generator.
func NewSources(p netip.Prefix, seed uint64) *Sources {
	p = p.Masked()
	a := p.Addr().As4()
	return &Sources{
		base:  uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]),
		hosts: uint32(1) << (32 - p.Bits()),
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Next returns a random address of the prefix.
func (s *Sources) Next() netip.Addr {
	v := s.base + s.rng.Uint32N(s.hosts)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Run sends the flood until its duration or count is reached, or ctx
// ends, and reports what it sent.
func Run(ctx context.Context, cfg Config, w Writer, clk Clock) (Stats, error) {
	if err := cfg.Check(); err != nil {
		return Stats{}, err
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	total := cfg.Count
	if total == 0 {
		total = int(cfg.Rate * cfg.Duration.Seconds())
	}
	g := newBatcher(cfg)
	start := clk.Now()
	// Room for 5 ms of packets (at least four batches), so that a sleep
	// that overshoots loses no tokens and the rate holds.
	lim := NewLimiter(cfg.Rate, max(4*cfg.Batch, int(cfg.Rate/200)), start)
	var st Stats
	for int(st.Sent+st.Failed) < total && ctx.Err() == nil {
		now := clk.Now()
		if now.Sub(start) >= cfg.Duration {
			break
		}
		want := min(cfg.Batch, total-int(st.Sent+st.Failed))
		n := lim.Take(now, want)
		if n == 0 {
			clk.Sleep(lim.Next(now, want))
			continue
		}
		pkts := g.batch(n)
		sent, err := w.WriteBatch(pkts)
		st.Sent += uint64(sent)
		st.Failed += uint64(n - sent)
		if err != nil && sent == 0 && errors.Is(err, errFatal) {
			st.Elapsed = clk.Now().Sub(start)
			return st, err
		}
	}
	st.Elapsed = clk.Now().Sub(start)
	return st, nil
}

// errFatal marks a Writer error after which sending is pointless.
var errFatal = errors.New("socket unusable")

// batcher builds batches of SYNs (or UDP datagrams) into reused buffers.
type batcher struct {
	cfg     Config
	src     *Sources
	rng     *rand.Rand
	bufs    [][]byte
	payload []byte
	id      uint16
}

func newBatcher(cfg Config) *batcher {
	g := &batcher{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed+1, cfg.Seed+2))}
	if !cfg.From.IsValid() {
		g.src = NewSources(cfg.Prefix, cfg.Seed)
	}
	g.bufs = make([][]byte, cfg.Batch)
	for i := range g.bufs {
		g.bufs[i] = make([]byte, 0, SYNLen+cfg.UDP)
	}
	g.payload = make([]byte, cfg.UDP)
	return g
}

func (g *batcher) batch(n int) [][]byte {
	for i := 0; i < n; i++ {
		g.id++
		src := g.cfg.From
		if !src.IsValid() {
			src = g.src.Next()
		}
		h := Header{
			Src: src, Dst: g.cfg.Dst,
			SrcPort: uint16(1024 + g.rng.IntN(64511)),
			DstPort: g.cfg.Ports[g.rng.IntN(len(g.cfg.Ports))],
			ID:      g.id, Seq: g.rng.Uint32(),
		}
		if g.cfg.UDP > 0 {
			for j := range g.payload {
				g.payload[j] = b64[g.rng.IntN(len(b64))]
			}
			g.bufs[i], _ = AppendUDP(g.bufs[i][:0], h, g.payload)
			continue
		}
		g.bufs[i], _ = AppendSYN(g.bufs[i][:0], h) // Check made sure both are IPv4
	}
	return g.bufs[:n]
}
