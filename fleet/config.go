package fleet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Mode is what a gate does when Redis cannot be reached.
type Mode int

const (
	// Refuse fails closed: a claim Redis cannot answer is an error, and
	// the engine refuses the knock.
	Refuse Mode = iota
	// Local decides alone, with the gate's own claim cache, and
	// reconciles its claims with Redis when Redis is back.
	Local
)

func (m Mode) String() string {
	if m == Local {
		return "local"
	}
	return "refuse"
}

// ParseMode reads "refuse" or "local".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "refuse":
		return Refuse, nil
	case "local":
		return Local, nil
	}
	return Refuse, fmt.Errorf("fleet failure mode %q: want \"refuse\" or \"local\"", s)
}

// Config is one gate's view of its fleet.
type Config struct {
	// URL says where Redis is (see ParseURL):
	//	redis://HOST:PORT/DB, rediss://... (TLS)
	//	redis-sentinel://H1:P1,H2:P2,H3:P3/DB?master=NAME (rediss-sentinel:// for TLS)
	//	redis-cluster://H1:P1,H2:P2,... (rediss-cluster:// for TLS)
	URL   string
	Fleet string // prefixes every key
	Gate  string // this gate's name
	Group string // gates of one group apply each other's grants

	Credentials Credentials // from ReadCredentials
	Key         []byte      // the fleet key, from ReadKey

	// OnFailure is what Claim does when Redis cannot be reached.
	OnFailure Mode
	// Replicas is how many replicas must acknowledge a claim (WAIT)
	// before Claim reports it fresh; 0 skips WAIT. ReplicaTimeout bounds
	// the wait (default 50ms).
	Replicas       int
	ReplicaTimeout time.Duration
	// MaxGrant is the longest a grant may run, and how long a revocation
	// is remembered (default 24h).
	MaxGrant time.Duration
	// MaxSkew is how far in the future a message's issuing time may lie
	// (clocks of gates differ; default 1 minute).
	MaxSkew time.Duration
	// LocalMax caps the local claim cache (default 1<<20 claims).
	LocalMax int
	// StreamLen is the approximate length the event stream is trimmed
	// to (default 10000).
	StreamLen int64

	TLS    *tls.Config // for rediss:// (default: system roots)
	Logger *slog.Logger
	Now    func() time.Time
	// Dialer, when set, opens connections to Redis (tests dial from a
	// network namespace with it).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (c *Config) defaults() error {
	for _, f := range []struct{ what, v string }{{"fleet", c.Fleet}, {"gate", c.Gate}, {"group", c.Group}} {
		if !nameRE.MatchString(f.v) {
			return fmt.Errorf("%s name %q: want 1 to 64 of A-Z a-z 0-9 . _ -", f.what, f.v)
		}
	}
	if len(c.Key) < 32 {
		return fmt.Errorf("fleet key of %d bytes: want at least 32", len(c.Key))
	}
	if c.Replicas < 0 {
		return fmt.Errorf("replicas %d: want 0 or more", c.Replicas)
	}
	if c.ReplicaTimeout <= 0 {
		c.ReplicaTimeout = 50 * time.Millisecond
	}
	if c.MaxGrant <= 0 {
		c.MaxGrant = 24 * time.Hour
	}
	if c.MaxSkew <= 0 {
		c.MaxSkew = time.Minute
	}
	if c.LocalMax <= 0 {
		c.LocalMax = 1 << 20
	}
	if c.StreamLen <= 0 {
		c.StreamLen = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// ParseURL turns a fleet URL into go-redis universal options. Credentials
// never come from the URL: a URL with a user or password is refused.
func ParseURL(raw string) (*redis.UniversalOptions, error) {
	// net/url takes one host; a fleet URL may list several, so the host
	// list is cut out by hand and the rest parsed as a URL.
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("redis url %q: want scheme://host", raw)
	}
	hosts := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		hosts, rest = rest[:i], rest[i:]
	} else {
		rest = ""
	}
	if strings.Contains(hosts, "@") {
		// Never quote it: it holds a password.
		return nil, fmt.Errorf("redis url carries credentials: put them in the credentials file")
	}
	u, err := url.Parse("x://h" + rest)
	if err != nil {
		return nil, fmt.Errorf("redis url %q: %w", raw, err)
	}
	o := &redis.UniversalOptions{}
	kind, tlsOn := strings.CutPrefix(scheme, "rediss")
	if !tlsOn {
		kind, ok = strings.CutPrefix(scheme, "redis")
		if !ok {
			kind = "?"
		}
	}
	if tlsOn {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	defPort := "6379"
	switch kind {
	case "":
	case "-sentinel":
		defPort = "26379"
		o.MasterName = u.Query().Get("master")
		if o.MasterName == "" {
			return nil, fmt.Errorf("redis url %q: a sentinel url needs ?master=NAME", raw)
		}
	case "-cluster":
		o.IsClusterMode = true
	default:
		return nil, fmt.Errorf("redis url %q: want scheme redis, rediss, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster", raw)
	}
	for _, h := range strings.Split(hosts, ",") {
		if h == "" {
			return nil, fmt.Errorf("redis url %q: empty host", raw)
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, defPort)
		}
		o.Addrs = append(o.Addrs, h)
	}
	if kind == "" && len(o.Addrs) > 1 {
		return nil, fmt.Errorf("redis url %q: several hosts: use redis-sentinel:// or redis-cluster://", raw)
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("redis url %q: database %q: want a number", raw, db)
		}
		if o.IsClusterMode && n != 0 {
			return nil, fmt.Errorf("redis url %q: a cluster has only database 0", raw)
		}
		o.DB = n
	}
	for k := range u.Query() {
		if k != "master" || o.MasterName == "" {
			return nil, fmt.Errorf("redis url %q: unknown parameter %q", raw, k)
		}
	}
	return o, nil
}

// Credentials are a Redis ACL user and password, and optionally the
// sentinels' own.
type Credentials struct {
	User, Password                 string
	SentinelUser, SentinelPassword string
}

// ReadCredentials reads a credentials file: "#" comments and lines
//
//	user NAME
//	password SECRET
//	sentinel-user NAME
//	sentinel-password SECRET
//
// The file must not be readable by group or others.
func ReadCredentials(path string) (Credentials, error) {
	var c Credentials
	b, err := readSecret(path)
	if err != nil {
		return c, err
	}
	return parseCredentials(path, b)
}

func parseCredentials(path string, b []byte) (Credentials, error) {
	var c Credentials
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		v = strings.TrimSpace(v)
		var dst *string
		switch k {
		case "user":
			dst = &c.User
		case "password":
			dst = &c.Password
		case "sentinel-user":
			dst = &c.SentinelUser
		case "sentinel-password":
			dst = &c.SentinelPassword
		default:
			return c, fmt.Errorf("%s:%d: unknown setting %q: want user, password, sentinel-user or sentinel-password", path, n, k)
		}
		if v == "" {
			return c, fmt.Errorf("%s:%d: %s needs a value", path, n, k)
		}
		if seen[k] {
			return c, fmt.Errorf("%s:%d: %s given twice", path, n, k)
		}
		seen[k] = true
		*dst = v
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if c.Password == "" {
		return c, fmt.Errorf("%s: no password line: want \"password SECRET\"", path)
	}
	return c, nil
}

// ReadKey reads the fleet key: one line of 64 hex digits (32 bytes), in a
// file not readable by group or others. Make one with
// `umask 077; openssl rand -hex 32 > fleet.key`.
func ReadKey(path string) ([]byte, error) {
	b, err := readSecret(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != 32 {
		// The content is a secret: never quote it.
		return nil, fmt.Errorf("%s: want one line of 64 hex digits (32 bytes), found %d characters", path, len(s))
	}
	return k, nil
}

func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o, readable by others: want 0600 (chmod 600 %s)", path, m, path)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return buf.Bytes(), nil
}
