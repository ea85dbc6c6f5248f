// Package flood makes the harness's traffic: spoofed TCP SYNs to the knock
// span at a set rate, and the legitimate knocks sent among them, as raw
// IPv4 packets built here byte by byte.
//
// Building the packets ourselves, rather than asking the kernel for a
// connection attempt, is what lets one process send 100,000 SYNs a second
// from 65,000 source addresses it does not own, and lets a legitimate
// knock leave at a moment the harness knows to the microsecond. The
// packets are only ever written to a raw socket opened inside a network
// namespace the harness built (see Sender); the pure parts here (packet
// bytes, the rate limiter, the source addresses) are unit-tested.
package flood

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Sizes of what Append* writes.
const (
	IPv4HeaderLen = 20
	TCPHeaderLen  = 20
	UDPHeaderLen  = 8
	SYNLen        = IPv4HeaderLen + TCPHeaderLen
)

// IP protocol numbers.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// ErrNotIPv4 is returned for an address the builder cannot put in an IPv4
// header.
var ErrNotIPv4 = errors.New("not an IPv4 address")

// Header is what varies between the packets of a flood.
type Header struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	ID               uint16 // IPv4 identification
	Seq              uint32 // TCP sequence number (SYN only)
}

// AppendSYN appends an IPv4 packet carrying a TCP SYN (window 64240, no
// options) with both checksums filled in.
func AppendSYN(b []byte, h Header) ([]byte, error) {
	if !h.Src.Is4() || !h.Dst.Is4() {
		return b, fmt.Errorf("syn from %q to %q: %w", h.Src, h.Dst, ErrNotIPv4)
	}
	b = appendIPv4(b, h, ProtoTCP, TCPHeaderLen)
	tcp := len(b)
	b = binary.BigEndian.AppendUint16(b, h.SrcPort)
	b = binary.BigEndian.AppendUint16(b, h.DstPort)
	b = binary.BigEndian.AppendUint32(b, h.Seq)
	b = binary.BigEndian.AppendUint32(b, 0)     // ack
	b = append(b, 5<<4, 0x02)                   // data offset 5 words; SYN
	b = binary.BigEndian.AppendUint16(b, 64240) // window
	b = append(b, 0, 0, 0, 0)                   // checksum, urgent pointer
	binary.BigEndian.PutUint16(b[tcp+16:], transportChecksum(h, ProtoTCP, b[tcp:]))
	return b, nil
}

// AppendUDP appends an IPv4 packet carrying one UDP datagram.
func AppendUDP(b []byte, h Header, payload []byte) ([]byte, error) {
	if !h.Src.Is4() || !h.Dst.Is4() {
		return b, fmt.Errorf("datagram from %q to %q: %w", h.Src, h.Dst, ErrNotIPv4)
	}
	n := UDPHeaderLen + len(payload)
	if IPv4HeaderLen+n > 0xffff {
		return b, fmt.Errorf("datagram of %d bytes is too long for IPv4", n)
	}
	b = appendIPv4(b, h, ProtoUDP, n)
	udp := len(b)
	b = binary.BigEndian.AppendUint16(b, h.SrcPort)
	b = binary.BigEndian.AppendUint16(b, h.DstPort)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = append(b, 0, 0)
	b = append(b, payload...)
	sum := transportChecksum(h, ProtoUDP, b[udp:])
	if sum == 0 {
		sum = 0xffff // zero means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(b[udp+6:], sum)
	return b, nil
}

// appendIPv4 writes a 20-byte header: TTL 64, don't fragment.
func appendIPv4(b []byte, h Header, proto byte, payloadLen int) []byte {
	start := len(b)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(IPv4HeaderLen+payloadLen))
	b = binary.BigEndian.AppendUint16(b, h.ID)
	b = append(b, 0x40, 0, 64, proto, 0, 0) // DF, TTL, protocol, checksum
	src, dst := h.Src.As4(), h.Dst.As4()
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	binary.BigEndian.PutUint16(b[start+10:], ^fold(sum16(b[start:start+IPv4HeaderLen], 0)))
	return b
}

// transportChecksum is the TCP or UDP checksum over the pseudo-header and
// seg, whose checksum field must be zero.
func transportChecksum(h Header, proto byte, seg []byte) uint16 {
	src, dst := h.Src.As4(), h.Dst.As4()
	var pseudo [12]byte
	copy(pseudo[0:4], src[:])
	copy(pseudo[4:8], dst[:])
	pseudo[9] = proto
	binary.BigEndian.PutUint16(pseudo[10:], uint16(len(seg)))
	return ^fold(sum16(seg, sum16(pseudo[:], 0)))
}

// sum16 adds b as big-endian 16-bit words to acc (an odd last byte is
// padded with zero), without folding.
func sum16(b []byte, acc uint32) uint32 {
	for len(b) >= 2 {
		acc += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// Checksum reports whether an IPv4 packet's header checksum and, for TCP
// and UDP, its transport checksum hold (tests, and checking captures).
func Checksum(pkt []byte) bool {
	if len(pkt) < IPv4HeaderLen || pkt[0]>>4 != 4 {
		return false
	}
	hl := int(pkt[0]&0x0f) * 4
	if hl < IPv4HeaderLen || len(pkt) < hl || fold(sum16(pkt[:hl], 0)) != 0xffff {
		return false
	}
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if total < hl || total > len(pkt) {
		return false
	}
	var h Header
	h.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
	h.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	seg := pkt[hl:total]
	switch pkt[9] {
	case ProtoTCP, ProtoUDP:
		src, dst := h.Src.As4(), h.Dst.As4()
		var pseudo [12]byte
		copy(pseudo[0:4], src[:])
		copy(pseudo[4:8], dst[:])
		pseudo[9] = pkt[9]
		binary.BigEndian.PutUint16(pseudo[10:], uint16(len(seg)))
		return fold(sum16(seg, sum16(pseudo[:], 0))) == 0xffff
	}
	return true
}

// Rechecksum recomputes the IPv4 header checksum and the TCP or UDP
// checksum of pkt in place, and reports whether it could. A packet read
// from a veth with a packet socket may carry only the partial checksum
// the sending kernel left for the (virtual) hardware to finish; sent on
// unchanged, the receiver would drop it.
func Rechecksum(pkt []byte) bool {
	if len(pkt) < IPv4HeaderLen || pkt[0]>>4 != 4 {
		return false
	}
	hl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if hl < IPv4HeaderLen || total < hl || total > len(pkt) {
		return false
	}
	pkt[10], pkt[11] = 0, 0
	binary.BigEndian.PutUint16(pkt[10:], ^fold(sum16(pkt[:hl], 0)))
	if off := binary.BigEndian.Uint16(pkt[6:]); off&0x3fff != 0 {
		return true // a fragment: the transport checksum spans all of them
	}
	h := Header{Src: netip.AddrFrom4([4]byte(pkt[12:16])), Dst: netip.AddrFrom4([4]byte(pkt[16:20]))}
	seg := pkt[hl:total]
	var at int
	switch pkt[9] {
	case ProtoTCP:
		at = 16
	case ProtoUDP:
		at = 6
	default:
		return true
	}
	if len(seg) < at+2 {
		return false
	}
	seg[at], seg[at+1] = 0, 0
	sum := transportChecksum(h, pkt[9], seg)
	if pkt[9] == ProtoUDP && sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(seg[at:], sum)
	return true
}
