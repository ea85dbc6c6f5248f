//go:build unix

package sender

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/portknock/knock"
	"golang.org/x/sys/unix"
)

// Socket sends knocks to one address, each from a socket of its own.
type Socket struct {
	remote netip.Addr
	// Logf, if set, hears once that TCP knocks go without the drop
	// filter (see sendSYN).
	Logf       func(format string, args ...any)
	unfiltered bool // the filter was refused once: not asked again
}

// New returns a Socket that sends to remote.
func New(remote netip.Addr) *Socket { return &Socket{remote: remote} }

// Close implements io.Closer; a Socket holds nothing open between sends.
func (s *Socket) Close() error { return nil }

// Send puts one knock on the wire.
func (s *Socket) Send(p Packet) error {
	sa, family := sockaddr(netip.AddrPortFrom(s.remote, p.Port))
	switch p.Proto {
	case knock.TCP:
		return s.sendSYN(family, sa)
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
//
// Some systems refuse the filter to an unprivileged user (EPERM: Linux
// with unprivileged BPF disabled, seccomp profiles). The knock then goes
// as the plain non-blocking connect: the daemon sees the same SYN, and
// the only difference is that a SYN-ACK from a port that listens may be
// acknowledged before the reset; knock ports are closed ports.
func (s *Socket) sendSYN(family int, sa unix.Sockaddr) error {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|sockFlags, unix.IPPROTO_TCP)
	if err != nil {
		return privilegeHint(fmt.Errorf("socket: %w", err))
	}
	defer unix.Close(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("setting O_NONBLOCK: %w", err)
	}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		return fmt.Errorf("setting SO_LINGER: %w", err)
	}
	if !s.unfiltered {
		switch err := dropIncoming(fd); {
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
			s.unfiltered = true
			if s.Logf != nil {
				s.Logf("tcp knocks go without the socket filter that drops SYN-ACKs (%v): a port that listens may see a handshake begun", err)
			}
		case err != nil:
			return fmt.Errorf("attaching a drop filter: %w", err)
		}
	}
	switch err := unix.Connect(fd, sa); {
	case err == nil, errors.Is(err, unix.EINPROGRESS), errors.Is(err, unix.ECONNREFUSED):
		return nil
	default:
		return privilegeHint(fmt.Errorf("connect: %w", err))
	}
}

// privilegeHint adds, to a refusal for want of privilege, what works
// without it.
func privilegeHint(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w (not permitted to this user: protocol = udp, or -spa in mode = sealed, knock without privilege)", err)
	}
	return err
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
