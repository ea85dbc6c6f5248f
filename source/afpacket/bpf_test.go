package afpacket

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/portknock/knock/source/packet"
	"github.com/portknock/knock/source/packet/packettest"
)

const vectors = "../packet/testdata/vectors/*.hex"

// spans the filter is checked with: one range, a few, and more than the
// kernel program checks itself.
var testPorts = map[string]packet.Ports{
	"one range": ranges(800, 803),
	"ranges":    ranges(801, 801, 803, 805, 7000, 7003, 65535, 65535),
	"too many":  manyRanges(),
	"all ports": ranges(0, 65535),
}

// ranges makes ports from pairs of first and last ports.
func ranges(pairs ...uint16) packet.Ports {
	var ps packet.Ports
	for i := 0; i < len(pairs); i += 2 {
		ps = append(ps, packet.Range{First: pairs[i], Last: pairs[i+1]})
	}
	return ps
}

func manyRanges() packet.Ports {
	var ps packet.Ports
	for p := uint16(700); len(ps) <= maxBPFRanges; p += 2 {
		ps = append(ps, packet.Range{First: p, Last: p})
	}
	return ps
}

// verdicts runs the kernel program in x/net/bpf's VM and the Go filter on
// the same bytes.
type verdicts struct {
	vm       *bpf.VM
	filter   *packet.Filter
	ethernet bool
}

func newVerdicts(t testing.TB, ps packet.Ports, ethernet bool) *verdicts {
	t.Helper()
	prog, err := filterProgram(ps, nil, ethernet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bpf.Assemble(prog); err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	return &verdicts{vm: vm, filter: packet.NewFilter(ps, nil), ethernet: ethernet}
}

// of reports whether the kernel program passes b, and whether Go keeps it.
func (v *verdicts) of(t testing.TB, b []byte) (kernel, golang bool) {
	n, err := v.vm.Run(b)
	if err != nil {
		t.Fatalf("bpf: %v", err)
	}
	if v.ethernet {
		_, golang = v.filter.Frame(b)
	} else {
		_, golang = v.filter.IP(b)
	}
	return n > 0, golang
}

// dropped are vectors the kernel program itself must drop: no knocks, and
// nothing it would need Go to judge.
var dropped = []string{"tcp4-ack", "tcp6-psh-ack", "tcp4-rstack", "tcp4-synack", "tcp4-fin",
	"icmp4-echo", "icmp6-echo", "arp-request", "udp4-frag-later", "ip6-esp"}

// TestFilterProgram checks the kernel program against the Go parser on
// every vector: it never drops a knock Go keeps, and it drops the common
// non-knocks itself.
func TestFilterProgram(t *testing.T) {
	frames := packettest.Frames(t, vectors)
	for name, ps := range testPorts {
		for _, ethernet := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/ethernet=%v", name, ethernet), func(t *testing.T) {
				v := newVerdicts(t, ps, ethernet)
				for vec, frame := range frames {
					if !ethernet {
						if frame = ipPart(frame); frame == nil {
							continue
						}
					}
					kernel, golang := v.of(t, frame)
					if golang && !kernel {
						t.Errorf("%s: the kernel program drops a knock", vec)
					}
					if kernel && isDropped(vec) {
						t.Errorf("%s: the kernel program passes it", vec)
					}
				}
			})
		}
	}
}

// TestFilterProgramDoors checks the program with knockd's door ports:
// it passes every TCP segment to a door's port that Go keeps, whatever
// its flags, and still never drops a SYN to the span.
func TestFilterProgramDoors(t *testing.T) {
	frames := packettest.Frames(t, vectors)
	for _, ethernet := range []bool{true, false} {
		for _, vec := range []string{"tcp4-syn", "tcp4-ack", "tcp4-fin", "tcp4-rstack", "tcp4-synack", "udp4-knock"} {
			for _, port := range []uint16{800, 801, 9100} {
				f := withPort(frames[vec], port)
				if !ethernet {
					f = ipPart(f)
				}
				span, doors := ranges(745, 1000), packet.PortsOf(port)
				prog, err := filterProgram(span, doors, ethernet)
				if err != nil {
					t.Fatal(err)
				}
				vm, err := bpf.NewVM(prog)
				if err != nil {
					t.Fatal(err)
				}
				n, err := vm.Run(f)
				if err != nil {
					t.Fatal(err)
				}
				filter := packet.NewDoorFilter(span, doors, nil)
				var golang bool
				if ethernet {
					_, golang = filter.Frame(f)
				} else {
					_, golang = filter.IP(f)
				}
				if golang && n == 0 {
					t.Errorf("%s to door port %d (ethernet %v): the kernel program drops a hit", vec, port, ethernet)
				}
				if want := vec != "udp4-knock" || port <= 1000; !golang && want {
					t.Errorf("%s to door port %d (ethernet %v): Go does not keep it", vec, port, ethernet)
				}
			}
		}
	}
}

// TestFilterProgramPorts checks the port test at the edges of each range.
func TestFilterProgramPorts(t *testing.T) {
	syn := packettest.Frames(t, vectors)["tcp4-syn"]
	for name, ps := range testPorts {
		v := newVerdicts(t, ps, true)
		for _, r := range ps {
			for _, p := range []uint16{r.First - 1, r.First, r.Last, r.Last + 1} {
				frame := withPort(syn, p)
				kernel, golang := v.of(t, frame)
				if golang != ps.Contains(p) || (len(ps) <= maxBPFRanges && kernel != golang) || (golang && !kernel) {
					t.Errorf("%s: port %d: kernel %v, Go %v, in span %v", name, p, kernel, golang, ps.Contains(p))
				}
			}
		}
	}
}

// FuzzFilterProgram checks on any bytes that the kernel program passes
// every knock the Go filter keeps.
func FuzzFilterProgram(f *testing.F) {
	for _, frame := range packettest.Frames(f, vectors) {
		f.Add(frame, true)
		if ip := ipPart(frame); ip != nil {
			f.Add(ip, false)
		}
	}
	vs := map[bool]*verdicts{true: newVerdicts(f, testPorts["ranges"], true), false: newVerdicts(f, testPorts["ranges"], false)}
	f.Fuzz(func(t *testing.T, b []byte, ethernet bool) {
		if kernel, golang := vs[ethernet].of(t, b); golang && !kernel {
			t.Fatalf("the kernel program drops a knock (ethernet %v): %x", ethernet, b)
		}
	})
}

func isDropped(name string) bool {
	for _, d := range dropped {
		if d == name || strings.HasPrefix(name, d+"/") {
			return true
		}
	}
	return false
}

// ipPart is the IP packet of an untagged IP frame, as a cooked socket reads it.
func ipPart(frame []byte) []byte {
	if len(frame) < 14 || !(frame[12] == 0x08 && frame[13] == 0x00 || frame[12] == 0x86 && frame[13] == 0xdd) {
		return nil
	}
	return frame[14:]
}

// withPort returns a copy of an untagged IPv4 frame with a 20-byte header,
// sent to port p.
func withPort(frame []byte, p uint16) []byte {
	f := append([]byte(nil), frame...)
	f[14+20+2], f[14+20+3] = byte(p>>8), byte(p)
	return f
}
