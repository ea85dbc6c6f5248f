package afpacket

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/portknock/knock/source/packet"
)

// maxBPFRanges is how many port ranges the kernel filter checks itself.
// Each costs two instructions and a classic BPF jump reaches at most 255
// ahead; ports in more ranges are checked in Go only.
const maxBPFRanges = 64

// Verdicts: how much of a packet to keep.
const (
	keepAll  = 0x40000
	keepNone = 0
)

// filterProgram is the classic BPF program the socket runs on every packet
// in the kernel, so that the daemon is woken only for likely knocks: IPv4
// or IPv6; TCP with SYN set and ACK clear, or UDP; not a later fragment;
// to a watched port. It passes what it cannot judge cheaply (IPv6
// extension headers, VLAN tags left in the frame) for Go to decide: the
// program may pass too much, never too little.
//
// ethernet says packets start with an Ethernet header (a raw socket on an
// Ethernet-like interface); otherwise they start at the IP header (a cooked
// socket, as on tun or WireGuard interfaces).
//
// anyFlags are TCP ports watched whatever a segment's flags (knockd's
// doors): when there are some, every TCP segment passes the flag check
// and the port check covers them too; Go sorts SYNs from the rest.
func filterProgram(ports, anyFlags packet.Ports, ethernet bool) ([]bpf.Instruction, error) {
	if len(anyFlags) > 0 {
		var all []uint16
		for _, ps := range []packet.Ports{ports, anyFlags} {
			for _, r := range ps {
				for p := uint32(r.First); p <= uint32(r.Last); p++ {
					all = append(all, uint16(p))
				}
			}
		}
		ports = packet.PortsOf(all...)
	}
	var p asm
	var l3 uint32 // where the IP header starts
	if ethernet {
		l3 = 14
		p.add(bpf.LoadAbsolute{Off: 12, Size: 2})
		p.jumpIf(bpf.JumpEqual, 0x0800, "ipv4", "")
		p.jumpIf(bpf.JumpEqual, 0x86dd, "ipv6", "")
		for _, tag := range []uint32{0x8100, 0x88a8, 0x9100} {
			p.jumpIf(bpf.JumpEqual, tag, "accept", "")
		}
	} else {
		p.add(bpf.LoadAbsolute{Off: 0, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
		p.jumpIf(bpf.JumpEqual, 4, "ipv4", "")
		p.jumpIf(bpf.JumpEqual, 6, "ipv6", "")
	}
	p.jump("drop")

	// IPv4: X = header length, A = protocol.
	p.label("ipv4")
	p.add(bpf.LoadAbsolute{Off: l3 + 6, Size: 2})
	p.jumpIf(bpf.JumpBitsSet, 0x1fff, "drop", "") // a later fragment
	p.add(bpf.LoadMemShift{Off: l3}, bpf.LoadAbsolute{Off: l3 + 9, Size: 1})
	p.jump("l4")

	// IPv6: X = 40, A = next header; extension headers are Go's to walk.
	p.label("ipv6")
	p.add(bpf.LoadConstant{Dst: bpf.RegX, Val: 40}, bpf.LoadAbsolute{Off: l3 + 6, Size: 1})
	for _, ext := range []uint32{0, 43, 44, 51, 60} {
		p.jumpIf(bpf.JumpEqual, ext, "accept", "")
	}

	p.label("l4")
	p.jumpIf(bpf.JumpEqual, 17, "ports", "")
	p.jumpIf(bpf.JumpEqual, 6, "", "drop")
	if len(anyFlags) == 0 {
		p.add(bpf.LoadIndirect{Off: l3 + 13, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x12})
		p.jumpIf(bpf.JumpEqual, 0x02, "", "drop") // SYN without ACK
	}

	p.label("ports")
	if len(ports) <= maxBPFRanges {
		p.add(bpf.LoadIndirect{Off: l3 + 2, Size: 2})
		for _, r := range ports { // sorted: below this range is below all the rest
			p.jumpIf(bpf.JumpLessThan, uint32(r.First), "drop", "")
			p.jumpIf(bpf.JumpLessOrEqual, uint32(r.Last), "accept", "")
		}
		p.jump("drop")
	}
	p.label("accept")
	p.add(bpf.RetConstant{Val: keepAll})
	p.label("drop")
	p.add(bpf.RetConstant{Val: keepNone})
	return p.resolve()
}

// asm assembles classic BPF with named jump targets.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	jumps  []pending
}

// pending is a jump at ins[at] whose targets are labels ("" for the next
// instruction).
type pending struct {
	at        int
	yes, no   string
	condition bool
}

func (p *asm) add(ins ...bpf.Instruction) { p.ins = append(p.ins, ins...) }

func (p *asm) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.ins)
}

func (p *asm) jumpIf(cond bpf.JumpTest, val uint32, yes, no string) {
	p.jumps = append(p.jumps, pending{at: len(p.ins), yes: yes, no: no, condition: true})
	p.add(bpf.JumpIf{Cond: cond, Val: val})
}

func (p *asm) jump(to string) {
	p.jumps = append(p.jumps, pending{at: len(p.ins), yes: to})
	p.add(bpf.Jump{})
}

// resolve fills in the jumps' distances.
func (p *asm) resolve() ([]bpf.Instruction, error) {
	for _, j := range p.jumps {
		yes, err := p.skip(j.at, j.yes)
		if err != nil {
			return nil, err
		}
		if !j.condition {
			p.ins[j.at] = bpf.Jump{Skip: yes}
			continue
		}
		no, err := p.skip(j.at, j.no)
		if err != nil {
			return nil, err
		}
		ji := p.ins[j.at].(bpf.JumpIf)
		ji.SkipTrue, ji.SkipFalse = uint8(yes), uint8(no)
		p.ins[j.at] = ji
	}
	return p.ins, nil
}

func (p *asm) skip(from int, to string) (uint32, error) {
	if to == "" {
		return 0, nil
	}
	at, ok := p.labels[to]
	if !ok {
		return 0, fmt.Errorf("bpf: no label %q", to)
	}
	d := at - from - 1
	if d < 0 || d > 255 {
		return 0, fmt.Errorf("bpf: jump from %d to %q is %d instructions", from, to, d)
	}
	return uint32(d), nil
}
