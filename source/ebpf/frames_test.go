package ebpf

import (
	"encoding/binary"
	"net/netip"
)

// pkt is one packet for the tests: a TCP SYN (Proto 6) or a UDP datagram
// (Proto 17) from Src to Dst.
type pkt struct {
	Src, Dst netip.Addr
	Proto    byte
	Port     uint16
	Payload  []byte
	Flags    byte // TCP flags; 0 means SYN
}

// frame is the packet in an Ethernet frame, as XDP sees it.
func (p pkt) frame() []byte {
	b := make([]byte, 12, 128)
	etype := uint16(0x0800)
	if p.Src.Is6() {
		etype = 0x86dd
	}
	b = binary.BigEndian.AppendUint16(b, etype)
	return p.appendIP(b)
}

// appendIP appends the IP packet; checksums are left zero for XDP test
// runs, and the kernel fills the IPv4 header's for a raw socket.
func (p pkt) appendIP(b []byte) []byte {
	var l4 []byte
	if p.Proto == 6 {
		flags := p.Flags
		if flags == 0 {
			flags = 0x02
		}
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:], 40000)
		binary.BigEndian.PutUint16(l4[2:], p.Port)
		l4[12], l4[13] = 5<<4, flags
		binary.BigEndian.PutUint16(l4[14:], 64240)
	} else {
		l4 = make([]byte, 8, 8+len(p.Payload))
		binary.BigEndian.PutUint16(l4[0:], 40000)
		binary.BigEndian.PutUint16(l4[2:], p.Port)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+len(p.Payload)))
		l4 = append(l4, p.Payload...)
	}
	if p.Src.Is4() {
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+len(l4)))
		b = append(b, 0, 0, 0x40, 0, 64, p.Proto, 0, 0)
		s, d := p.Src.As4(), p.Dst.As4()
		b = append(append(b, s[:]...), d[:]...)
	} else {
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(l4)))
		b = append(b, p.Proto, 64)
		s, d := p.Src.As16(), p.Dst.As16()
		b = append(append(b, s[:]...), d[:]...)
	}
	return append(b, l4...)
}
