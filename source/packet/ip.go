package packet

import (
	"encoding/binary"
	"net/netip"

	"github.com/portknock/knock"
	"github.com/portknock/knock/source"
)

// view is a parsed knock whose payload still points into the packet, so
// that a caller can reject it (wrong port) before paying for the copy.
type view struct {
	src, dst netip.Addr
	proto    knock.Proto
	port     uint16
	flags    uint8 // TCP
	payload  []byte
}

// hit copies the view out of the packet's buffer.
func (v *view) hit() source.Hit {
	h := source.Hit{Src: v.src, Dst: v.dst, Proto: v.proto, Port: v.port, TCPFlags: v.flags}
	if len(v.payload) > 0 {
		h.Payload = append([]byte(nil), v.payload...)
	}
	return h
}

// IP protocol numbers, also the IPv6 next-header values.
const (
	protoHopByHop = 0
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoAuth     = 51
	protoDestOpts = 60
)

const (
	ipv4Header     = 20
	ipv6Header     = 40
	ipv4MoreFrags  = 0x2000
	ipv4FragOffset = 0x1fff
	ipv6FragOffset = 0xfff8
	ipv6MoreFrags  = 0x0001
)

func parseIPv4(b []byte, v *view) error {
	if len(b) < ipv4Header {
		return ErrTruncated
	}
	if b[0]>>4 != 4 {
		return ErrMalformed
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < ipv4Header || total < ihl {
		return ErrMalformed
	}
	if len(b) < total {
		return ErrTruncated
	}
	b = b[:total] // drop the link layer's padding
	frag := binary.BigEndian.Uint16(b[6:8])
	if frag&ipv4FragOffset != 0 {
		return ErrNotKnock // a later fragment carries no transport header
	}
	v.src = netip.AddrFrom4([4]byte(b[12:16]))
	v.dst = netip.AddrFrom4([4]byte(b[16:20]))
	return parseTransport(b[9], b[ihl:], frag&ipv4MoreFrags != 0, v)
}

func parseIPv6(b []byte, v *view) error {
	if len(b) < ipv6Header {
		return ErrTruncated
	}
	if b[0]>>4 != 6 {
		return ErrMalformed
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if len(b)-ipv6Header < plen {
		return ErrTruncated
	}
	b = b[:ipv6Header+plen]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	if src.Is4In6() {
		// RFC 4291 2.5.5.2: never on the wire. Reporting it unmapped
		// would let an IPv6 packet speak for an IPv4 address.
		return ErrMalformed
	}
	v.src = src
	v.dst = netip.AddrFrom16([16]byte(b[24:40]))
	return walkIPv6(b[6], b[ipv6Header:], v)
}

// walkIPv6 steps over at most MaxExtHeaders extension headers to the
// transport header.
func walkIPv6(next byte, b []byte, v *view) error {
	fragmented := false
	for range MaxExtHeaders + 1 {
		var n int
		switch next {
		case protoTCP, protoUDP:
			return parseTransport(next, b, fragmented, v)
		case protoHopByHop, protoRouting, protoDestOpts:
			if len(b) < 2 {
				return ErrTruncated
			}
			n = (int(b[1]) + 1) * 8
		case protoAuth:
			if len(b) < 2 {
				return ErrTruncated
			}
			n = (int(b[1]) + 2) * 4
		case protoFragment:
			if len(b) < 8 {
				return ErrTruncated
			}
			frag := binary.BigEndian.Uint16(b[2:4])
			if frag&ipv6FragOffset != 0 {
				return ErrNotKnock
			}
			fragmented = frag&ipv6MoreFrags != 0
			n = 8
		default:
			return ErrNotKnock // ICMPv6, ESP, no next header, ...
		}
		if len(b) < n {
			return ErrTruncated
		}
		next, b = b[0], b[n:]
	}
	return ErrMalformed
}

// TCP flags that make a knock on a span: SYN set, ACK clear.
const (
	tcpSYN    = 0x02
	tcpACK    = 0x10
	tcpHeader = 20
	udpHeader = 8
)

// parseTransport reads a TCP or UDP header. fragmented says b is the first
// fragment of a longer datagram: a UDP payload is then kept as far as it
// goes (unless the kernel reassembled it first, which it does before
// NFLOG's chain when connection tracking is in use).
func parseTransport(proto byte, b []byte, fragmented bool, v *view) error {
	switch proto {
	case protoTCP:
		if len(b) < tcpHeader {
			return ErrTruncated
		}
		off := int(b[12]>>4) * 4
		if off < tcpHeader {
			return ErrMalformed
		}
		if len(b) < off {
			return ErrTruncated
		}
		// Every TCP segment is parsed; whether it is a knock (a SYN, or
		// any flags on a knockd door's port) is the caller's to say.
		v.proto, v.payload, v.flags = knock.TCP, nil, b[13]&0x3f
	case protoUDP:
		if len(b) < udpHeader {
			return ErrTruncated
		}
		n := int(binary.BigEndian.Uint16(b[4:6]))
		switch {
		case n < udpHeader:
			return ErrMalformed
		case n > len(b) && !fragmented:
			return ErrTruncated
		case n > len(b):
			n = len(b)
		}
		v.proto, v.payload = knock.UDP, b[udpHeader:n]
	default:
		return ErrNotKnock
	}
	v.port = binary.BigEndian.Uint16(b[2:4])
	return nil
}

// syn reports whether the view is a knock on a span: UDP, or TCP with SYN
// set and ACK clear.
func (v *view) syn() bool {
	return v.proto != knock.TCP || v.flags&(tcpSYN|tcpACK) == tcpSYN
}
