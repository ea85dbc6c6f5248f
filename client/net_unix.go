//go:build unix

package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/portknock/knock/sender"
	"golang.org/x/sys/unix"
)

// ProbeTimeouts are the -verify connection attempts, one after the other,
// each a fresh SYN: a lost SYN costs 0.3 s, not the kernel's 1 s
// retransmission, and a round trip of up to 0.7 s still succeeds on the
// second attempt. A closed port costs 1 s in all.
var ProbeTimeouts = []time.Duration{300 * time.Millisecond, 700 * time.Millisecond}

// System is the real network.
type System struct{}

// Resolve implements Network: an address as is, a name through the
// system's resolver, its first address.
func (System) Resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("%q has no address", host)
	}
	return addrs[0].Unmap(), nil
}

// LocalAddr implements Network with a UDP "connect", which chooses a
// route and a source address and sends nothing.
func (System) LocalAddr(remote netip.Addr) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, 9)))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// Sender implements Network.
func (System) Sender(remote netip.Addr) (Sender, error) {
	if !remote.IsValid() {
		return nil, errors.New("no remote address")
	}
	return sender.New(remote.Unmap()), nil
}

// Probe implements Network.
func (System) Probe(ctx context.Context, ap netip.AddrPort) (bool, error) {
	for _, timeout := range ProbeTimeouts {
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp", ap.String())
		if err == nil {
			c.Close()
			return true, nil
		}
		var ne net.Error
		switch {
		case errors.Is(err, unix.ECONNREFUSED):
			return false, nil // refused is an answer: no need to ask again
		case errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil:
			continue
		default:
			return false, err
		}
	}
	return false, nil
}
