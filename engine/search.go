package engine

import (
	"net/netip"
	"time"

	"github.com/portknock/knock"
)

// Work per hit. A hit on a span makes the engine try the tail of its
// source's queue, and a full decode of a candidate is what costs (two
// HMACs for the sealed knock); everything else is a few lookups. The
// decodes one hit can cause are bounded by two constants of the
// protocol, whatever the source sent before:
//
//   - Plain candidates (no knock skipped): at most one per length, and
//     only those whose first ports pass Plausible. Each port heads at most
//     one plain candidate that passes (its header announces one length),
//     so a flood buys at most one plain decode per packet on average, and
//     len(Lengths()) in the worst single packet. They are free: a knock
//     sent without injected packets always gets its decode, even from a
//     source that was flooding a moment ago.
//   - Candidates that skip foreign knocks: the ways of leaving 1 or 2
//     packets out of a window grow with the square of its length (496 for
//     a 32-port knock), and a source that repeats a valid header port
//     makes every one of them pass the first look. So they are paid from
//     the source's budget (a token bucket in its tracker entry, BudgetFor
//     units, earned back over budgetRefill), at most SkipCost per hit: one
//     whole search for an injected knock of the longest length. A source
//     that has spent its budget is throttled alone: its skip candidates
//     wait for the refill, its plain ones are still tried, and other
//     sources keep their own budgets.
//
// A flood that spoofs many addresses, each repeating for long enough to
// fill a queue (17 packets or more), would get a fresh budget per address;
// so skip decodes also come from an engine-wide budget of sharedSearches
// whole searches a second. When a flood spends it, knocks with injected
// packets wait (counted in knockdaemon_searches_shed_total); plain knocks
// still open.
//
// So one packet costs at most len(Lengths()) + SkipCost decodes, one
// source at most BudgetFor + BudgetFor×t/budgetRefill skip decodes over t,
// all sources together at most sharedSearches×SkipCost skip decodes a
// second (plus one second's worth at once), and a flood from one address
// about one decode per packet.

// budgetRefill is how long a source takes to earn its whole budget back.
const budgetRefill = 20 * time.Second

// sharedSearches is the engine-wide budget: whole skip searches a second,
// per span protocol.
const sharedSearches = 16

// sharedBudget is a token bucket of skip decodes shared by every source.
type sharedBudget struct {
	tokens, capacity int
	perToken         time.Duration
	filled           time.Time
}

func newSharedBudget(capacity int) *sharedBudget {
	return &sharedBudget{tokens: capacity, capacity: capacity, perToken: max(time.Second/time.Duration(capacity), 1)}
}

func (b *sharedBudget) allowance(now time.Time) int {
	if earned := int(now.Sub(b.filled) / b.perToken); earned > 0 {
		b.tokens = min(b.tokens+earned, b.capacity)
		b.filled = b.filled.Add(time.Duration(earned) * b.perToken)
	}
	if b.tokens == b.capacity || b.filled.IsZero() {
		b.filled = now
	}
	return b.tokens
}

func (b *sharedBudget) spend(n int) { b.tokens = max(b.tokens-n, 0) }

// SkipCost is the number of candidates that skip foreign knocks in one
// window of the longest length: what an injected knock may need on its
// last packet, and the most skip decodes one hit may cost.
func SkipCost(p SpanProtocol) int {
	l := p.Lengths()
	n, c := l[len(l)-1], 0
	for s := 1; s <= min(p.Skip(), 2); s++ {
		c += binomial(n+s-2, s)
	}
	return c
}

// BudgetFor is a source's budget of skip decodes: two whole searches, so
// that an injected knock is found even after its own packets (or the
// strays before it) made a few windows worth a search.
func BudgetFor(p SpanProtocol) int { return max(2*SkipCost(p), 1) }

func binomial(n, k int) int {
	c := 1
	for i := 1; i <= k; i++ {
		c = c * (n - k + i) / i
	}
	return c
}

// search tries the candidates of one hit, without allocating: the
// candidates are built in the route's scratch buffer, and the yielded
// slices are reused.
type search struct {
	e     *Engine
	r     *spanRoute
	src   netip.Addr
	at    time.Time
	queue []uint16

	req     knock.Request // the accepted candidate's request
	best    knock.Reason  // the furthest refusal
	bestErr error
	bestReq knock.Request // what decoding read of it

	allow   int // skip decodes left this hit; -1 until the budgets are asked
	used    int // skip decodes done
	starved bool
	shed    bool // the engine-wide budget, not the source's, was the limit
}

// run tries the plain candidates, then those that skip one foreign knock,
// then two, shortest first; true when one was accepted.
func (s *search) run() bool {
	p, look := s.r.proto, s.r.look
	for _, n := range s.r.lengths {
		if n > len(s.queue) {
			break
		}
		w := s.queue[len(s.queue)-n:]
		if p.Plausible(w[:min(n, look)], n) && s.try(w) {
			return true
		}
	}
	for k := 1; k <= s.r.skip; k++ {
		for _, n := range s.r.lengths {
			if n+k > len(s.queue) {
				break
			}
			if s.window(s.queue[len(s.queue)-n-k:], n, k) {
				return true
			}
			if s.starved {
				return false
			}
		}
	}
	return false
}

// window tries the ways of leaving k of w's inner ports out (never the
// first: that is a shorter window, tried already; never the last: the
// knock ends with the packet that just arrived).
//
// The first look reads the first r.look ports; a window whose gaps all
// lie beyond them shares one answer, so a window that cannot start a knock
// costs one look, not one per way of skipping.
func (s *search) window(w []uint16, n, k int) bool {
	look := s.r.look
	head := s.r.proto.Plausible(w[:min(n, look)], n)
	last := len(w) - 1
	for g1 := 1; g1 < last; g1++ {
		if g1 >= look && !head {
			return false // every later way keeps the head
		}
		if k == 1 {
			if s.candidate(w, n, g1, -1) {
				return true
			}
			if s.starved {
				return false
			}
			continue
		}
		for g2 := g1 + 1; g2 < last; g2++ {
			if s.candidate(w, n, g1, g2) {
				return true
			}
			if s.starved {
				return false
			}
		}
	}
	return false
}

// candidate tries w without the ports at g1 and g2 (g2 < 0: one gap).
// window has checked the first look when no gap touches the first ports.
func (s *search) candidate(w []uint16, n, g1, g2 int) bool {
	r := s.r
	if g1 < r.look && !r.proto.Plausible(keep(r.buf, w, g1, g2, min(n, r.look)), n) {
		return false
	}
	if s.allow < 0 {
		own, shared := r.tracker.Allowance(s.src, s.at), r.shared.allowance(s.at)
		s.allow, s.shed = min(own, shared, r.skipPerHit), shared < min(own, r.skipPerHit)
	}
	if s.allow == 0 {
		s.starved = true
		return false
	}
	s.allow--
	s.used++
	return s.try(keep(r.buf, w, g1, g2, n))
}

// keep writes the first m ports of w but those at g1 and g2 into buf.
func keep(buf, w []uint16, g1, g2, m int) []uint16 {
	c := buf[:0]
	for i := 0; len(c) < m; i++ {
		if i != g1 && i != g2 {
			c = append(c, w[i])
		}
	}
	return c
}

func (s *search) try(cand []uint16) bool {
	req, err := s.e.check(s.r.proto, cand, s.src)
	if err == nil {
		s.req = req
		return true
	}
	if rs := reasonOf(err); s.best == "" || rs.Stage() > s.best.Stage() {
		s.best, s.bestErr, s.bestReq = rs, err, req
	}
	return false
}

// reasonOf is knock.ReasonOf without its allocation for the common case.
func reasonOf(err error) knock.Reason {
	if r, ok := err.(*knock.Reject); ok {
		return r.Reason
	}
	return knock.ReasonOf(err)
}
