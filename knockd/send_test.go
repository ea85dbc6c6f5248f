package knockd

import (
	"encoding/binary"
	"fmt"
	"net"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// appendIP builds an IPv4 or IPv6 packet carrying a TCP segment with the
// given flags (no options) or an empty UDP datagram, checksums filled in:
// the knocks of a trace, with spoofed sources and chosen flags.
func appendIP(b []byte, p Packet) []byte {
	var l4 []byte
	if p.Proto == TCP {
		l4 = binary.BigEndian.AppendUint16(nil, 40000)
		l4 = binary.BigEndian.AppendUint16(l4, p.Port)
		l4 = append(l4, 0, 0, 0, 1, 0, 0, 0, 0, 5<<4, p.TCPFlags, 0xfa, 0xf0, 0, 0, 0, 0)
	} else {
		l4 = binary.BigEndian.AppendUint16(nil, 40000)
		l4 = binary.BigEndian.AppendUint16(l4, p.Port)
		l4 = append(l4, 0, 8, 0, 0)
	}
	src, dst := p.Src.AsSlice(), p.Dst.AsSlice()
	// Pseudo-header sum, then the segment's.
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	add(src)
	add(dst)
	sum += uint32(p.Proto) + uint32(len(l4))
	add(l4)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	at := 16
	if p.Proto == UDP {
		at = 6
	}
	binary.BigEndian.PutUint16(l4[at:], ^uint16(sum))
	if p.Src.Is4() {
		h := []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, byte(p.Proto), 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
		h = append(append(h, src...), dst...)
		var s uint32
		for i := 0; i < 20; i += 2 {
			s += uint32(binary.BigEndian.Uint16(h[i:]))
		}
		for s > 0xffff {
			s = s>>16 + s&0xffff
		}
		binary.BigEndian.PutUint16(h[10:], ^uint16(s))
		return append(append(b, h...), l4...)
	}
	h := []byte{0x60, 0, 0, 0, 0, 0, byte(p.Proto), 64}
	binary.BigEndian.PutUint16(h[4:], uint16(len(l4)))
	h = append(append(h, src...), dst...)
	return append(append(b, h...), l4...)
}

// packetSocket is an AF_PACKET datagram socket on one interface: the
// kernel adds the Ethernet header, so any source address goes out.
type packetSocket struct {
	fd      int
	ifindex int
	dstMAC  net.HardwareAddr
}

// openPacketSocket opens the socket; call it inside the sending namespace
// (netns.Do), where ifname lives.
func openPacketSocket(ifname string, dstMAC net.HardwareAddr) (*packetSocket, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	return &packetSocket{fd: fd, ifindex: ifi.Index, dstMAC: dstMAC}, nil
}

func (s *packetSocket) send(pkt []byte, v6 bool) error {
	proto := uint16(unix.ETH_P_IP)
	if v6 {
		proto = unix.ETH_P_IPV6
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: s.ifindex, Halen: 6}
	copy(sa.Addr[:], s.dstMAC)
	return unix.Sendto(s.fd, pkt, 0, sa)
}

func (s *packetSocket) close() { unix.Close(s.fd) }

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// sendAll sends the packets at their times after start, from one thread
// pinned to one CPU: veth queues each packet on the sending CPU's backlog,
// so a thread that moved between CPUs could reorder them.
func (s *packetSocket) sendAll(start time.Time, packets []Packet) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err == nil {
			for cpu := 0; cpu < 1024; cpu++ {
				if set.IsSet(cpu) {
					var one unix.CPUSet
					one.Set(cpu)
					unix.SchedSetaffinity(0, &one)
					break
				}
			}
		}
		for _, p := range packets {
			if d := time.Until(start.Add(p.Time.Sub(traceEpoch))); d > 0 {
				time.Sleep(d) // the trace's own timing: lateness is what it tests
			}
			if err := s.send(appendIP(nil, p), p.Src.Is6()); err != nil {
				errc <- fmt.Errorf("sending %v: %w", p, err)
				return
			}
		}
		errc <- nil
	}()
	return <-errc
}
