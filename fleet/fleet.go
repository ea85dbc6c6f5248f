// Package fleet lets a fleet of gates share replay claims and grants
// through Redis (or Valkey), with go-redis's universal client: one server,
// Sentinel or Cluster. docs/fleet.md is its specification: keys and their
// lifetimes, the signed message format, the failure modes and what they
// guarantee.
//
// A gate claims a knock's replay ID (Claim) before it grants the knock, so
// that a knock captured at one gate is refused at every other. After it
// grants, it publishes the grant (Publish), signed with the fleet key;
// every gate of its group opens the same access through its own firewall
// (Run). Anything in Redis without a valid signature opens nothing: a
// writer to Redis without the fleet key can deny service, never grant.
package fleet

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable wraps the error of a claim Redis could not answer (mode
// refuse): the knock must be refused.
var ErrUnavailable = errors.New("fleet redis unavailable")

// ErrNotReplicated is a claim Redis stored on its primary that fewer
// replicas than Config.Replicas acknowledged in time: a failover could
// lose it, so it is not reported fresh.
var ErrNotReplicated = errors.New("fleet claim not acknowledged by enough replicas")

// Fleet is one gate's connection to its fleet. Its methods are safe for
// concurrent use.
type Fleet struct {
	cfg Config
	rdb redis.UniversalClient
	log func(msg string, args ...any)

	keyGrants, keyRevoked, keyEvents string

	mu      sync.Mutex
	wake    context.CancelFunc // ends Run's current session
	syncs   int                // times Run read the live sets
	down    bool               // Redis failed; cleared by Run after reconciling
	local   map[[32]byte]int64 // claims this gate knows of: ID → until, Unix ms
	pending map[[32]byte]int64 // claims decided locally, not yet in Redis
	issued  map[string]*issued // grants this gate published, by signed bytes
	applied map[string]Grant   // grants of other gates opened here
	revoked map[string]message // revocations in force, by signed bytes

	stats counters
}

type issued struct {
	g    Grant
	sent bool // in Redis's stream and live set
}

// New checks cfg and makes the client; it does not connect yet.
func New(cfg Config) (*Fleet, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	o, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if o.IsClusterMode && cfg.Replicas > 0 {
		return nil, fmt.Errorf("replicas %d with a cluster url: WAIT is not supported across a cluster", cfg.Replicas)
	}
	if o.TLSConfig != nil && cfg.TLS != nil {
		o.TLSConfig = cfg.TLS
	}
	o.Username, o.Password = cfg.Credentials.User, cfg.Credentials.Password
	o.SentinelUsername, o.SentinelPassword = cfg.Credentials.SentinelUser, cfg.Credentials.SentinelPassword
	o.ClientName = cfg.Fleet + ":" + cfg.Gate
	// Callers' deadlines bound every command; go-redis retries nothing,
	// so a claim is sent once and its answer is the answer.
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	o.DialTimeout = 2 * time.Second
	o.Dialer = cfg.Dialer
	o.DisableIdentity = true
	f := &Fleet{
		cfg: cfg, rdb: redis.NewUniversalClient(o),
		keyGrants:  cfg.Fleet + ":{" + cfg.Group + "}:grants",
		keyRevoked: cfg.Fleet + ":{" + cfg.Group + "}:revoked",
		keyEvents:  cfg.Fleet + ":{" + cfg.Group + "}:events",
		local:      map[[32]byte]int64{},
		pending:    map[[32]byte]int64{},
		issued:     map[string]*issued{},
		applied:    map[string]Grant{},
		revoked:    map[string]message{},
	}
	f.log = func(msg string, args ...any) {
		cfg.Logger.Info(msg, append([]any{"fleet", cfg.Fleet, "gate", cfg.Gate}, args...)...)
	}
	return f, nil
}

// Close closes the connections to Redis.
func (f *Fleet) Close() error { return f.rdb.Close() }

// Client is the underlying go-redis client (for health checks and tests).
func (f *Fleet) Client() redis.UniversalClient { return f.rdb }

func (f *Fleet) claimKey(id [32]byte) string {
	return f.cfg.Fleet + ":claim:" + hex.EncodeToString(id[:])
}

// Down reports whether the gate currently decides without Redis.
func (f *Fleet) Down() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

// markDown records that Redis failed; the first failure is logged.
func (f *Fleet) markDown(err error) {
	f.mu.Lock()
	was := f.down
	f.down = true
	if f.wake != nil {
		f.wake() // Run's session may not have seen the failure: resync
	}
	f.mu.Unlock()
	if !was {
		f.stats.outages.Add(1)
		if f.cfg.OnFailure == Local {
			f.log("redis unreachable: deciding claims alone with the local cache until it is back", "error", err)
		} else {
			f.log("redis unreachable: refusing every knock until it is back", "error", err)
		}
	}
}

// Stats are the gate's counters since New.
type Stats struct {
	Claims, Fresh, Replayed uint64 // claims asked, fresh, refused as replays
	ClaimErrors             uint64 // claims answered with an error (knock refused)
	NotReplicated           uint64 // claims refused because WAIT fell short
	Local                   uint64 // claims decided without Redis (mode local)
	Reconciled, Conflicts   uint64 // local claims written back; of them, claimed elsewhere too
	Outages                 uint64 // times Redis became unreachable
	Published, Revocations  uint64 // grants and revocations this gate sent
	Applied, Closed         uint64 // grants opened, and closed by revocation, here
	ApplyErrors             uint64 // firewall calls that failed
	Malformed, Forged       uint64 // messages ignored: undecodable, bad signature
	Stale, Foreign          uint64 // messages ignored: out of time, other fleet or group
}

type counters struct {
	claims, fresh, replayed, claimErrors, notReplicated, local      atomic.Uint64
	reconciled, conflicts, outages, published, revocations          atomic.Uint64
	applied, closed, applyErrors, malformed, forged, stale, foreign atomic.Uint64
}

// Stats returns a snapshot of the counters.
func (f *Fleet) Stats() Stats {
	c := &f.stats
	return Stats{
		Claims: c.claims.Load(), Fresh: c.fresh.Load(), Replayed: c.replayed.Load(),
		ClaimErrors: c.claimErrors.Load(), NotReplicated: c.notReplicated.Load(), Local: c.local.Load(),
		Reconciled: c.reconciled.Load(), Conflicts: c.conflicts.Load(), Outages: c.outages.Load(),
		Published: c.published.Load(), Revocations: c.revocations.Load(),
		Applied: c.applied.Load(), Closed: c.closed.Load(), ApplyErrors: c.applyErrors.Load(),
		Malformed: c.malformed.Load(), Forged: c.forged.Load(), Stale: c.stale.Load(), Foreign: c.foreign.Load(),
	}
}

// count records why a message was ignored.
func (f *Fleet) count(err error) {
	switch {
	case errors.Is(err, ErrForged):
		f.stats.forged.Add(1)
	case errors.Is(err, ErrStale):
		f.stats.stale.Add(1)
	case errors.Is(err, ErrForeign):
		f.stats.foreign.Add(1)
	default:
		f.stats.malformed.Add(1)
	}
}
