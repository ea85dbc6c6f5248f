// Package lossy is netem in user space: a relay between two interfaces
// of a middle network namespace that loses, delays and reorders frames.
//
// The harness's first choice was `tc qdisc ... netem` on the veth, but a
// kernel built without CONFIG_NET_SCH_NETEM (as the development
// machine's) has no netem, and there is no module to load. The relay
// does what netem's loss, delay with jitter and reorder do, on frames it
// reads from one interface with a packet socket and writes to the other,
// each direction on its own; the two namespaces it joins see one lossy
// link. The decisions (Impairer) are pure and tested; the relay itself
// is Linux only.
package lossy

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Config is what netem would be given: loss P%, delay D J (uniform in
// D-J..D+J), reorder R% (that share of frames goes at once, overtaking
// frames still delayed).
type Config struct {
	Loss    float64 // 0 to 1
	Delay   time.Duration
	Jitter  time.Duration
	Reorder float64 // 0 to 1
}

// String is the equivalent netem arguments.
func (c Config) String() string {
	return fmt.Sprintf("loss %g%% delay %s %s reorder %g%%", c.Loss*100, c.Delay, c.Jitter, c.Reorder*100)
}

// Check refuses shares outside 0..1 and negative times.
func (c Config) Check() error {
	if c.Loss < 0 || c.Loss > 1 || c.Reorder < 0 || c.Reorder > 1 || c.Delay < 0 || c.Jitter < 0 {
		return fmt.Errorf("link impairment %s: shares must be 0 to 100%% and times not negative", c)
	}
	return nil
}

// Impairer decides each frame's fate. Its configuration can change while
// frames pass (the harness turns the loss on after the daemons start).
type Impairer struct {
	mu  sync.Mutex
	cfg Config
	rng *rand.Rand
}

// NewImpairer returns an impairer drawing from a seeded generator.
func NewImpairer(cfg Config, seed uint64) *Impairer {
	return &Impairer{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed+1))}
}

// Set changes the configuration.
func (im *Impairer) Set(cfg Config) {
	im.mu.Lock()
	im.cfg = cfg
	im.mu.Unlock()
}

// Decide says whether to drop a frame, and otherwise how long to hold it.
func (im *Impairer) Decide() (drop bool, delay time.Duration) {
	im.mu.Lock()
	defer im.mu.Unlock()
	c := im.cfg
	if c.Loss > 0 && im.rng.Float64() < c.Loss {
		return true, 0
	}
	if c.Reorder > 0 && im.rng.Float64() < c.Reorder {
		return false, 0
	}
	d := c.Delay
	if c.Jitter > 0 {
		d += time.Duration(im.rng.Int64N(int64(2*c.Jitter)+1)) - c.Jitter
	}
	return false, max(d, 0)
}
