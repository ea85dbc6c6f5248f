package packettest

import (
	"net"
	"net/netip"
	"testing"

	"github.com/portknock/knock"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/source"
)

// Scenario is the end-to-end check every network source passes: knocks
// over IPv4 and IPv6, TCP and UDP, with and without payload, to ports of
// the span and outside it, and traffic that is no knock.
type Scenario struct {
	Pair *netnstest.Pair
	Hits <-chan source.Hit // what the source in the host namespace reports
	In   []uint16          // ports of the span, at least two
	Out  uint16            // a port outside the span
	// Converse adds established connections to span ports, whose ACKs
	// must not be reported (only their SYNs are). Not for a host that
	// drops everything.
	Converse bool
}

// Run sends the knocks and checks that the source reports exactly the
// hits it should, in order.
func (s Scenario) Run(t *testing.T) {
	t.Helper()
	p := s.Pair
	v4, v6 := p.HostV4, p.HostV6
	first, second, last := s.In[0], s.In[1], s.In[len(s.In)-1]
	knocks := []Knock{
		{Dst: v4, Proto: knock.TCP, Port: first},
		{Dst: v4, Proto: knock.UDP, Port: second, Payload: []byte("sealed knock over IPv4")},
		{Dst: v4, Proto: knock.TCP, Port: s.Out},
		{Dst: v6, Proto: knock.TCP, Port: second},
		{Dst: v6, Proto: knock.UDP, Port: s.Out, Payload: []byte("not in the span")},
		{Dst: v6, Proto: knock.UDP, Port: first, Payload: []byte("sealed knock over IPv6")},
		{Dst: v4, Proto: knock.UDP, Port: last}, // a plain knock: no payload
		{Dst: v4, Proto: knock.UDP, Port: s.Out},
		{Dst: v6, Proto: knock.TCP, Port: last},
	}
	var want []source.Hit
	for _, k := range knocks {
		if k.Port != s.Out {
			want = append(want, HitOf(p, k))
		}
	}
	Send(t, p, knocks...)
	if s.Converse {
		for _, dst := range []netip.Addr{v4, v6} {
			Converse(t, p, dst, first)
			want = append(want, HitOf(p, Knock{Dst: dst, Proto: knock.TCP, Port: first}))
		}
	}
	s.hostSends(t)
	marker := Knock{Dst: v4, Proto: knock.UDP, Port: first, Payload: []byte("marker")}
	Send(t, p, marker)
	Expect(t, s.Hits, want, HitOf(p, marker))
}

// hostSends has the host send to the client's span ports: its own
// outgoing packets are no knocks on it.
func (s Scenario) hostSends(t *testing.T) {
	t.Helper()
	p := s.Pair
	err := p.Host.Do(func() error {
		for _, dst := range []netip.Addr{p.ClientV4, p.ClientV6} {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, s.In[0])))
			if err != nil {
				return err
			}
			_, err = c.Write([]byte("outgoing"))
			c.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("sending from the host: %v", err)
	}
}
