package clienttest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// TCP flags of a captured segment.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagACK = 0x10
)

// Captured is one TCP segment or UDP datagram seen on the wire.
type Captured struct {
	Src, Dst         netip.Addr
	Proto            string // "tcp" or "udp"
	SrcPort, DstPort uint16
	Flags            uint8  // TCP flags
	Payload          []byte // UDP payload
}

// String is how a test shows a packet.
func (c Captured) String() string {
	return fmt.Sprintf("%s %s:%d > %s:%d flags %#02x payload %d bytes", c.Proto, c.Src, c.SrcPort, c.Dst, c.DstPort, c.Flags, len(c.Payload))
}

// Capture reads the packets arriving on one interface through a packet
// socket (AF_PACKET). Open it inside the namespace to watch (NS.Do); it
// can be read from anywhere after.
type Capture struct{ fd int }

// OpenCapture opens a capture on iface, in the calling thread's network
// namespace. Packets queue from then on.
func OpenCapture(iface string) (*Capture, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding to %s: %w", iface, err)
	}
	tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Capture{fd: fd}, nil
}

// Close closes the socket.
func (c *Capture) Close() error { return unix.Close(c.fd) }

// Collect returns the TCP and UDP packets from src that arrive before
// limit passes, stopping early once want have come and quiet has passed
// without another (so that an extra packet, such as the ACK of a
// handshake, would be seen).
func (c *Capture) Collect(src netip.Addr, want int, quiet, limit time.Duration) []Captured {
	var out []Captured
	end := time.Now().Add(limit)
	var last time.Time
	for time.Now().Before(end) {
		if len(out) >= want && time.Since(last) >= quiet {
			break
		}
		p, ok, err := c.next()
		if err != nil || !ok || p.Src != src {
			continue
		}
		out = append(out, p)
		last = time.Now()
	}
	return out
}

// Next returns the next TCP or UDP packet to arrive before until.
func (c *Capture) Next(until time.Time) (Captured, bool) {
	for time.Now().Before(until) {
		p, ok, err := c.next()
		if err != nil {
			return Captured{}, false
		}
		if ok {
			return p, true
		}
	}
	return Captured{}, false
}

// next reads one incoming frame and parses it; ok is false for frames
// that are not TCP or UDP over IP, or were sent by this side.
func (c *Capture) next() (Captured, bool, error) {
	buf := make([]byte, 65536)
	n, from, err := unix.Recvfrom(c.fd, buf, 0)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return Captured{}, false, nil
		}
		return Captured{}, false, err
	}
	if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
		return Captured{}, false, nil
	}
	p, ok := parseFrame(buf[:n])
	return p, ok, nil
}

// parseFrame reads an Ethernet frame carrying TCP or UDP over IPv4 or
// IPv6 (without extension headers).
func parseFrame(f []byte) (Captured, bool) {
	if len(f) < 14 {
		return Captured{}, false
	}
	var p Captured
	var proto byte
	var l4 []byte
	switch binary.BigEndian.Uint16(f[12:]) {
	case unix.ETH_P_IP:
		ip := f[14:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return p, false
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || len(ip) < total {
			return p, false
		}
		proto = ip[9]
		p.Src, p.Dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		l4 = ip[ihl:total]
	case unix.ETH_P_IPV6:
		ip := f[14:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return p, false
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if len(ip) < 40+plen {
			return p, false
		}
		proto = ip[6]
		p.Src, p.Dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		l4 = ip[40 : 40+plen]
	default:
		return p, false
	}
	return parseL4(p, proto, l4)
}

func parseL4(p Captured, proto byte, l4 []byte) (Captured, bool) {
	switch proto {
	case unix.IPPROTO_TCP:
		if len(l4) < 20 {
			return p, false
		}
		p.Proto, p.Flags = "tcp", l4[13]
	case unix.IPPROTO_UDP:
		if len(l4) < 8 {
			return p, false
		}
		ulen := int(binary.BigEndian.Uint16(l4[4:]))
		if ulen < 8 || ulen > len(l4) {
			return p, false
		}
		p.Proto, p.Payload = "udp", append([]byte(nil), l4[8:ulen]...)
	default:
		return p, false
	}
	p.SrcPort, p.DstPort = binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
	return p, true
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
