package engine

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/source"
)

// doors is a fake StatefulProtocol: a two-step door on tcp/7000 then
// udp/8000, whose opening grants ports and runs an action.
type doors struct {
	ports []knock.Port
	grant []knock.Port
	last  map[netip.Addr]int
	seen  []source.Hit
	runs  int
}

func (d *doors) Name() knock.Protocol { return knock.Knockd }
func (d *doors) Ports() []knock.Port  { return d.ports }
func (d *doors) Observe(h source.Hit) []Opening {
	d.seen = append(d.seen, h)
	step := slices.Index(d.ports, knock.Port{Proto: h.Proto, Port: h.Port})
	if step != d.last[h.Src] {
		d.last[h.Src] = 0
		return nil
	}
	if d.last[h.Src]++; d.last[h.Src] < len(d.ports) {
		return nil
	}
	d.last[h.Src] = 0
	return []Opening{{
		Request: knock.Request{Protocol: knock.Knockd, User: "door", Client: h.Src, Ports: d.grant},
		Run:     func() { d.runs++ },
	}}
}

func newDoors(grant ...knock.Port) *doors {
	return &doors{ports: []knock.Port{{Proto: knock.TCP, Port: 7000}, {Proto: knock.UDP, Port: 8000}}, grant: grant, last: map[netip.Addr]int{}}
}

func (r *rig) hit(src string, proto knock.Proto, port uint16, flags uint8) {
	r.clk.t = r.clk.t.Add(100 * time.Millisecond)
	r.e.Handle(source.Hit{Time: r.clk.t, Src: netip.MustParseAddr(src), Proto: proto, Port: port, TCPFlags: flags})
	r.e.acts.drain()
}

// A door's grants go through the policy and the firewall, with no replay
// claim (a static sequence has no id) although replay protection is on;
// its action runs after them; hits reach the protocol with their flags.
func TestStatefulOpens(t *testing.T) {
	d := newDoors(knock.Port{Proto: knock.TCP, Port: 22})
	r := newRig(t, func(c *Config, _ *legacy.Protocol) { c.Protocols = append(c.Protocols, d) })
	r.hit("192.0.2.7", knock.TCP, 7000, 0x12)
	r.hit("192.0.2.7", knock.UDP, 8000, 0)
	if got := r.fw.Active(); !slices.Equal(got, []string{"192.0.2.7 tcp/22"}) {
		t.Fatalf("active grants %v (log %v)", got, r.fw.Log)
	}
	if d.runs != 1 {
		t.Fatalf("the door's action ran %d times, want 1", d.runs)
	}
	if d.seen[0].TCPFlags != 0x12 {
		t.Errorf("the protocol saw flags %#x, want 0x12", d.seen[0].TCPFlags)
	}
	// Again: no replay refusal, a second grant.
	r.hit("192.0.2.7", knock.TCP, 7000, 0x02)
	r.hit("192.0.2.7", knock.UDP, 8000, 0)
	if d.runs != 2 || len(r.fw.Log) != 2 {
		t.Fatalf("the second opening: %d runs, firewall log %v", d.runs, r.fw.Log)
	}
}

// A door granting a port that is not protected opens nothing and runs
// nothing; a dry run runs nothing either.
func TestStatefulRefusedAndDryRun(t *testing.T) {
	d := newDoors(knock.Port{Proto: knock.TCP, Port: 23})
	r := newRig(t, func(c *Config, _ *legacy.Protocol) { c.Protocols = append(c.Protocols, d) })
	r.hit("192.0.2.7", knock.TCP, 7000, 0x02)
	r.hit("192.0.2.7", knock.UDP, 8000, 0)
	if len(r.fw.Log) != 0 || d.runs != 0 {
		t.Fatalf("an unprotected grant: firewall log %v, %d runs", r.fw.Log, d.runs)
	}

	d = newDoors()
	r = newRig(t, func(c *Config, _ *legacy.Protocol) { c.Protocols = append(c.Protocols, d); c.DryRun = true })
	r.hit("192.0.2.7", knock.TCP, 7000, 0x02)
	r.hit("192.0.2.7", knock.UDP, 8000, 0)
	if d.runs != 0 || len(d.seen) != 2 {
		t.Fatalf("dry run: %d runs, %d hits seen", d.runs, len(d.seen))
	}
}

// A stateful protocol may not share a port with a span or a datagram
// protocol; a segment other than a SYN elsewhere is no knock.
func TestStatefulRoutes(t *testing.T) {
	d := newDoors()
	d.ports = append(d.ports, knock.Port{Proto: knock.TCP, Port: 800})
	_, err := New(Config{Protocols: []Protocol{mustLegacy(t), d}, Protected: []knock.Port{{Proto: knock.TCP, Port: 22}}}, Deps{})
	if err == nil || !strings.Contains(err.Error(), "knock span") {
		t.Fatalf("a door port in the span: %v", err)
	}
	r := newRig(t, nil)
	r.hit("192.0.2.7", knock.TCP, 800, 0x10)
	if sum(r.e.m.outsideSpan, nil) != 1 {
		t.Errorf("an ACK to the span was not set aside")
	}
}

func mustLegacy(t *testing.T) *legacy.Protocol {
	codec, err := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
	if err != nil {
		t.Fatal(err)
	}
	return &legacy.Protocol{Codec: codec, Window: time.Minute}
}
