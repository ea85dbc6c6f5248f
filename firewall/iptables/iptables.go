package iptables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portknock/knock"
)

// DefaultChain is the chain the backend owns unless configured otherwise.
const DefaultChain = "PORTKNOCK"

// DefaultTimeout limits each iptables call unless configured otherwise.
const DefaultTimeout = 5 * time.Second

// Errors for errors.Is.
var (
	// ErrConfig marks a configuration the backend cannot work with.
	ErrConfig = errors.New("invalid iptables configuration")
	// ErrNotProtected is an Open for a port the guard does not cover.
	ErrNotProtected = errors.New("port is not protected by the chain")
	// ErrBadGrant is a grant no rule can express.
	ErrBadGrant = errors.New("invalid grant")
)

// Port is one protected port.

// Config configures a Backend.
type Config struct {
	// Chain is the chain the backend owns; DefaultChain when empty.
	Chain string
	// Protected are the ports the guard closes and grants open.
	Protected []knock.Port
	// IPTables and IP6Tables name the binaries; "iptables" and
	// "ip6tables" on PATH when empty.
	IPTables, IP6Tables string
	// Wrapper, when set, is put before every command line, for example
	// {"ip", "netns", "exec", "blue"} to work in another network
	// namespace.
	Wrapper []string
	// Timeout limits each call; DefaultTimeout when zero.
	Timeout time.Duration
	// Now is the clock that dates grants; time.Now when nil. The kernel
	// ends them by its own clock.
	Now func() time.Time
}

// Backend is a firewall.Backend over iptables and ip6tables.
type Backend struct {
	chain     string
	protected []knock.Port
	wrapper   []string
	timeout   time.Duration
	now       func() time.Time
	v4, v6    family
	mu        sync.Mutex // serialises list-then-change sequences
}

// family is one of the two binaries.
type family struct {
	name string // "iptables" or "ip6tables", for messages
	path string
	bits int // host prefix length: 32 or 128
}

var chainName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,27}$`)

// New checks cfg and that the binaries exist; it changes nothing in the
// firewall (Setup does).
func New(cfg Config) (*Backend, error) {
	b := &Backend{chain: cfg.Chain, wrapper: cfg.Wrapper, timeout: cfg.Timeout, now: cfg.Now}
	if b.chain == "" {
		b.chain = DefaultChain
	}
	if !chainName.MatchString(b.chain) || isBuiltin(b.chain) {
		return nil, fmt.Errorf("iptables: chain name %q: want up to 28 letters, digits, '_', '.', '-', not a built-in chain or target: %w", b.chain, ErrConfig)
	}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	if b.now == nil {
		b.now = time.Now
	}
	var err error
	if b.protected, err = checkPorts(cfg.Protected); err != nil {
		return nil, err
	}
	if b.v4, err = lookFamily("iptables", cfg.IPTables, 32); err != nil {
		return nil, err
	}
	if b.v6, err = lookFamily("ip6tables", cfg.IP6Tables, 128); err != nil {
		return nil, err
	}
	if len(b.wrapper) > 0 {
		if _, err := exec.LookPath(b.wrapper[0]); err != nil {
			return nil, fmt.Errorf("iptables: wrapper %q not found: %w", b.wrapper[0], err)
		}
	}
	return b, nil
}

func isBuiltin(name string) bool {
	switch name {
	case "INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING",
		"ACCEPT", "DROP", "RETURN", "QUEUE", "REJECT", "LOG":
		return true
	}
	return false
}

func checkPorts(ports []knock.Port) ([]knock.Port, error) {
	if len(ports) == 0 {
		return nil, fmt.Errorf("iptables: no protected ports configured: %w", ErrConfig)
	}
	var out []knock.Port
	seen := map[knock.Port]bool{}
	for _, p := range ports {
		if (p.Proto != knock.TCP && p.Proto != knock.UDP) || p.Port == 0 {
			return nil, fmt.Errorf("iptables: protected port %q: want tcp or udp and a port from 1 to 65535: %w", p.String(), ErrConfig)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func lookFamily(name, path string, bits int) (family, error) {
	if path == "" {
		path = name
	}
	full, err := exec.LookPath(path)
	if err != nil {
		return family{}, fmt.Errorf("iptables: %s binary %q not found (Debian: apt-get install iptables): %w", name, path, err)
	}
	return family{name: name, path: full, bits: bits}, nil
}

// familyOf picks the binary for an address.
func (b *Backend) familyOf(a netip.Addr) *family {
	if a.Is4() {
		return &b.v4
	}
	return &b.v6
}

// CmdError is an iptables call that failed.
type CmdError struct {
	Args   []string // the command line, binary first
	Err    error
	Stderr string
}

func (e *CmdError) Error() string {
	return fmt.Sprintf("iptables: %q: %v: %q", e.Args, e.Err, e.Stderr)
}

func (e *CmdError) Unwrap() error { return e.Err }

// run calls the family's binary with args in the filter table, waiting for
// the xtables lock no longer than its time limit, and returns its output.
func (b *Backend) run(ctx context.Context, f *family, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	wait := strconv.Itoa(int(math.Ceil(b.timeout.Seconds())))
	argv := append(append([]string{}, b.wrapper...), f.path, "-w", wait, "-t", "filter")
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (limit %s)", ctx.Err(), b.timeout)
		}
		return "", &CmdError{Args: argv, Err: err, Stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.String(), nil
}

// Stop implements firewall.Backend: rules end by their time match.
func (b *Backend) Stop(context.Context) error { return nil }

// Durable implements firewall.Backend: a rule's time match ends it even
// if the daemon is gone.
func (b *Backend) Durable() bool { return true }

// Describe implements firewall.Backend.
func (b *Backend) Describe() string {
	return "iptables chain " + DefaultChain + " jumped to from INPUT"
}
