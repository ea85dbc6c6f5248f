package nft

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/portknock/knock"
)

// Mode says whose table the grants live in.
type Mode string

// Modes.
const (
	// OwnTable installs table inet portknock, which guards the protected
	// ports by itself. Enough on a host whose ruleset accepts by default.
	OwnTable Mode = "own-table"
	// ExistingTable manages two sets inside the administrator's table,
	// which the administrator's own input chain references. Needed on a
	// host whose ruleset drops by default.
	ExistingTable Mode = "existing-table"
)

// Defaults.
const (
	DefaultTable    = "portknock"  // own-table mode
	DefaultSet4     = "allowed4"   // own-table mode
	DefaultSet6     = "allowed6"   // own-table mode
	DefaultAdmin4   = "portknock4" // existing-table mode
	DefaultAdmin6   = "portknock6" // existing-table mode
	protectedSet    = "protected"
	inputChain      = "input"
	guardChain      = "guard"
	maxNameLen      = 255 // NFT_NAME_MAXLEN less the NUL
	familyInet      = "inet"
	familyIP        = "ip"
	familyIP6       = "ip6"
	guardPriority   = -10 // filter - 10; see the package doc
	loopbackIfindex = 1   // LOOPBACK_IFINDEX: lo is 1 in every namespace
)

// Port is one protected port.

// Config says where and what the backend guards.
type Config struct {
	// Mode is OwnTable (the default when empty) or ExistingTable.
	Mode Mode
	// Family of the table: "inet" (default, IPv4 and IPv6), "ip" (IPv4
	// only) or "ip6" (IPv6 only). OwnTable is always inet.
	Family string
	// Table is the table's name: DefaultTable in OwnTable mode; required
	// in ExistingTable mode (the administrator's table, e.g. "filter").
	Table string
	// Set4 and Set6 name the sets of IPv4 and IPv6 grants. Defaults:
	// allowed4/allowed6 in OwnTable mode, portknock4/portknock6 in
	// ExistingTable mode. A family the table does not carry has no set.
	Set4, Set6 string
	// Protected lists the ports a grant may open. OwnTable mode keeps
	// them closed to everyone else; in both modes Open refuses others.
	Protected []knock.Port
	// NetNSFd is a network namespace fd to work in; 0 is the current one.
	NetNSFd int
}

// ErrConfig marks a configuration the backend cannot work with.
var ErrConfig = errors.New("invalid nftables configuration")

// normalize fills in defaults and checks everything, so the rest of the
// package can trust the configuration.
func (c Config) normalize() (Config, error) {
	if c.Mode == "" {
		c.Mode = OwnTable
	}
	if c.Family == "" {
		c.Family = familyInet
	}
	switch c.Mode {
	case OwnTable:
		if c.Family != familyInet {
			return c, fmt.Errorf("%w: family %q: the own table is always inet (it guards IPv4 and IPv6 together)", ErrConfig, c.Family)
		}
		c.Table = or(c.Table, DefaultTable)
		c.Set4, c.Set6 = or(c.Set4, DefaultSet4), or(c.Set6, DefaultSet6)
	case ExistingTable:
		if c.Table == "" {
			return c, fmt.Errorf("%w: existing-table mode needs the name of the administrator's table (e.g. \"filter\")", ErrConfig)
		}
		if err := c.existingSets(); err != nil {
			return c, err
		}
	default:
		return c, fmt.Errorf("%w: mode %q: want %q or %q", ErrConfig, c.Mode, OwnTable, ExistingTable)
	}
	if err := c.checkNames(); err != nil {
		return c, err
	}
	ports, err := checkPorts(c.Protected)
	c.Protected = ports
	return c, err
}

// existingSets picks the set names by family: an ip table carries only the
// IPv4 set, an ip6 table only the IPv6 one.
func (c *Config) existingSets() error {
	switch c.Family {
	case familyInet:
		c.Set4, c.Set6 = or(c.Set4, DefaultAdmin4), or(c.Set6, DefaultAdmin6)
	case familyIP:
		if c.Set6 != "" {
			return fmt.Errorf("%w: set6 %q in an ip table, which sees no IPv6 traffic", ErrConfig, c.Set6)
		}
		c.Set4 = or(c.Set4, DefaultAdmin4)
	case familyIP6:
		if c.Set4 != "" {
			return fmt.Errorf("%w: set4 %q in an ip6 table, which sees no IPv4 traffic", ErrConfig, c.Set4)
		}
		c.Set6 = or(c.Set6, DefaultAdmin6)
	default:
		return fmt.Errorf("%w: family %q: want \"inet\", \"ip\" or \"ip6\"", ErrConfig, c.Family)
	}
	return nil
}

func (c Config) checkNames() error {
	names := []struct{ what, name string }{{"table", c.Table}, {"set4", c.Set4}, {"set6", c.Set6}}
	for _, n := range names {
		if n.name != "" && !validName(n.name) {
			return fmt.Errorf("%w: %s name %q: want a letter or _ then letters, digits, _ . - (at most %d)", ErrConfig, n.what, n.name, maxNameLen)
		}
	}
	if c.Set4 != "" && c.Set4 == c.Set6 {
		return fmt.Errorf("%w: set4 and set6 are both %q", ErrConfig, c.Set4)
	}
	if c.Mode == OwnTable && (c.Set4 == protectedSet || c.Set6 == protectedSet) {
		return fmt.Errorf("%w: set name %q is the own table's list of protected ports", ErrConfig, protectedSet)
	}
	return nil
}

// validName accepts what nft's grammar accepts as a bare identifier, so
// the rendered ruleset loads as it is printed.
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i, r := range s {
		letter := r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
		other := ('0' <= r && r <= '9') || r == '.' || r == '-'
		if !letter && (i == 0 || !other) {
			return false
		}
	}
	return true
}

// checkPorts validates the protected ports and returns them sorted and
// without duplicates.
func checkPorts(ports []knock.Port) ([]knock.Port, error) {
	if len(ports) == 0 {
		return nil, fmt.Errorf("%w: no protected ports: a knock would have nothing to open", ErrConfig)
	}
	out := make([]knock.Port, 0, len(ports))
	for _, p := range ports {
		if p.Proto != knock.TCP && p.Proto != knock.UDP {
			return nil, fmt.Errorf("%w: protected port %d: protocol %q: want %q or %q", ErrConfig, p.Port, p.Proto, knock.TCP, knock.UDP)
		}
		if p.Port == 0 {
			return nil, fmt.Errorf("%w: protected port %q: port 0 cannot be connected to", ErrConfig, p.String())
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b knock.Port) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	return out, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
