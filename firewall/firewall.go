// Package firewall defines where access is granted: a Backend opens one
// port to one address for a while and closes it again. Implementations:
// firewall/nft (nftables over netlink, the default), firewall/iptables (the
// iptables binary) and firewall/command (templated commands, the Perl
// prototype's way), and the fake firewall/firewalltest.
//
// Backends fail closed: access they grant ends on time by the kernel's own
// means where the firewall has them (nftables set element timeouts,
// iptables time matches), so a daemon that dies leaves nothing open.
package firewall

import (
	"context"
	"net/netip"
	"time"

	"github.com/portknock/knock"
)

// Grant is one port opened to one address.
type Grant struct {
	Addr     netip.Addr    // who may connect (IPv4 unmapped, or IPv6)
	Proto    knock.Proto   // knock.TCP or knock.UDP
	Port     uint16        // the protected port
	Duration time.Duration // how long from now; access ends on its own after it
	// Fields are the knock's fields by lower-case name ("client",
	// "flag0", ...), for backends that run command templates.
	Fields map[string]string
}

// Backend is a firewall the daemon can open and close ports in, with its
// whole lifecycle: the daemon installs it, grants and ends access through
// it, sweeps it, describes it, and lets go of it at stop or -uninstall.
type Backend interface {
	// Setup installs or repairs what the backend needs, keeping grants.
	// It is called at start and again from time to time.
	Setup(ctx context.Context) error
	// Open grants access. Opening a grant that is already open refreshes
	// its duration.
	Open(ctx context.Context, g Grant) error
	// Close revokes access before its time. Closing a grant that is not
	// open is not an error.
	Close(ctx context.Context, g Grant) error
	// Grants lists the access in force, each with the time it has left.
	Grants(ctx context.Context) ([]Grant, error)
	// Sweep ends expired access the kernel does not end by itself and
	// says how much it ended; a backend whose kernel does it returns 0.
	Sweep(ctx context.Context) (int, error)
	// Stop is called when the daemon stops: backends whose grants live
	// in the kernel leave everything in place (failing closed); the
	// command backend runs its pending stop commands.
	Stop(ctx context.Context) error
	// Uninstall removes what Setup installed.
	Uninstall(ctx context.Context) error
	// Describe tells the operator what is, or would be, installed.
	Describe() string
	// Durable reports whether grants end on time without the daemon:
	// true when the kernel ends them, false when the process must.
	Durable() bool
}
