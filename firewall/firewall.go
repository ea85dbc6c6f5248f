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
	"fmt"
	"net/netip"
	"time"
)

// Protocols a grant can open.
const (
	TCP = "tcp"
	UDP = "udp"
)

// Port is a protected port: a protocol and a port number.
type Port struct {
	Proto string // TCP or UDP
	Port  uint16
}

func (p Port) String() string { return fmt.Sprintf("%s/%d", p.Proto, p.Port) }

// Grant is one port opened to one address.
type Grant struct {
	Addr     netip.Addr    // who may connect (IPv4 unmapped, or IPv6)
	Proto    string        // TCP or UDP
	Port     uint16        // the protected port
	Duration time.Duration // how long from now; access ends on its own after it
	// Fields are the knock's fields by lower-case name ("client",
	// "flag0", ...), for backends that run command templates.
	Fields map[string]string
}

// Backend is a firewall the daemon can open and close ports in.
type Backend interface {
	// Open grants access. Opening a grant that is already open refreshes
	// its duration.
	Open(ctx context.Context, g Grant) error
	// Close revokes access before its time. Closing a grant that is not
	// open is not an error.
	Close(ctx context.Context, g Grant) error
}
