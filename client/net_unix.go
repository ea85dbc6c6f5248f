//go:build unix

package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/portknock/knock"
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
	return socketSender{remote: remote.Unmap()}, nil
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

// socketSender sends each knock from a socket of its own, so the kernel
// picks a fresh source port for every one.
type socketSender struct{ remote netip.Addr }

func (s socketSender) Close() error { return nil }

func (s socketSender) Send(p Packet) error {
	sa, family := sockaddr(netip.AddrPortFrom(s.remote, p.Port))
	switch p.Proto {
	case knock.TCP:
		return sendSYN(family, sa)
	case knock.UDP:
		return sendDatagram(family, sa, p.Payload)
	}
	return fmt.Errorf("protocol %q: expected tcp or udp", p.Proto)
}

// sendSYN starts a TCP connection and abandons it at once. The kernel has
// sent the SYN by the time a non-blocking connect returns EINPROGRESS;
// closing a socket in SYN-SENT sends nothing more, and with SO_LINGER 0
// nothing lingers: no retransmission.
//
// A SYN-ACK can come back before the close, though: over a fast link the
// kernel handles it before connect even returns, and would complete the
// handshake with an ACK. So the socket first drops everything it would
// receive (dropIncoming): it stays in SYN-SENT until closed, and a SYN-ACK
// arriving later finds no socket and is answered with a bare reset, as for
// any closed port.
func sendSYN(family int, sa unix.Sockaddr) error {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|sockFlags, unix.IPPROTO_TCP)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("setting O_NONBLOCK: %w", err)
	}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		return fmt.Errorf("setting SO_LINGER: %w", err)
	}
	if err := dropIncoming(fd); err != nil {
		return fmt.Errorf("attaching a drop filter: %w", err)
	}
	switch err := unix.Connect(fd, sa); {
	case err == nil, errors.Is(err, unix.EINPROGRESS), errors.Is(err, unix.ECONNREFUSED):
		return nil
	default:
		return fmt.Errorf("connect: %w", err)
	}
}

// sendDatagram sends one datagram, empty for a plain knock. It uses
// sendto: write(2) sends nothing for an empty buffer.
func sendDatagram(family int, sa unix.Sockaddr, payload []byte) error {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|sockFlags, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, payload, 0, sa); err != nil {
		return fmt.Errorf("sendto: %w", err)
	}
	return nil
}

func sockaddr(ap netip.AddrPort) (unix.Sockaddr, int) {
	if a := ap.Addr(); a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	if zone := ap.Addr().Zone(); zone != "" {
		if ifi, err := net.InterfaceByName(zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, unix.AF_INET6
}
