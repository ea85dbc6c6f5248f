package engine

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall/firewalltest"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/source"
)

func sealedRig(t *testing.T) (*rig, *sealed.Key, *portspan.Span) {
	t.Helper()
	key, err := sealed.NewKey(bytes.Repeat([]byte{7}, sealed.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	span, _ := portspan.Parse("40000-40255")
	clk := &clock{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	rc := newMemClaims()
	fw := firewalltest.New(clk.now)
	cfg := Config{Protocols: []Protocol{&sealed.Protocol{Key: key, Span: span, SPA: 62201}}, Protected: []knock.Port{{Proto: "tcp", Port: 22}, {Proto: "udp", Port: 1194}}, CheckClient: true, Replay: true}
	e, err := New(cfg, Deps{Claims: rc, Firewall: fw, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{e: e, fw: fw, clk: clk}, key, span
}

func sealMsg(t *testing.T, key *sealed.Key, m sealed.Message) []byte {
	t.Helper()
	b, err := sealed.SealNonce(key, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealedOpens(t *testing.T) {
	r, key, span := sealedRig(t)
	msg := sealMsg(t, key, sealed.Message{Client: netip.MustParseAddr("10.77.0.2"), Port: 22, Proto: "tcp", Duration: 10 * time.Minute, Time: r.clk.t, Nonce: 1})
	r.knock("10.77.0.2", sealed.Encode(span, msg)...)
	if !slices.Equal(r.fw.Log, []string{"open 10.77.0.2 tcp/22 10m0s"}) {
		t.Fatalf("firewall %v", r.fw.Log)
	}
}

// A spoofed packet injected in the middle of a sealed knock does not
// break it: the engine skips up to two foreign knocks.
func TestSealedSurvivesInjectedKnocks(t *testing.T) {
	for _, inject := range [][]int{{3}, {0}, {5, 11}, {1, 2}} {
		r, key, span := sealedRig(t)
		msg := sealMsg(t, key, sealed.Message{Implicit: true, Client: netip.MustParseAddr("10.77.0.2"), Port: 22, Proto: "tcp", Time: r.clk.t, Nonce: 2})
		ports := sealed.Encode(span, msg)
		var seq []uint16
		for i, p := range ports {
			if slices.Contains(inject, i) && i > 0 {
				seq = append(seq, 40000+uint16(i*7)) // a foreign knock, same source (spoofed)
			}
			seq = append(seq, p)
		}
		r.knock("10.77.0.2", seq...)
		if len(r.fw.Active()) != 1 {
			t.Errorf("injected before knocks %v: not opened (firewall %v)", inject, r.fw.Log)
		}
	}
}

func TestSealedForgedOrReplayedNeverOpens(t *testing.T) {
	r, key, span := sealedRig(t)
	msg := sealMsg(t, key, sealed.Message{Client: netip.MustParseAddr("10.77.0.2"), Port: 22, Proto: "tcp", Time: r.clk.t, Nonce: 3})
	r.knock("10.77.0.2", sealed.Encode(span, msg)...)
	r.knock("10.77.0.2", sealed.Encode(span, msg)...) // replayed
	if len(r.fw.Log) != 1 || r.e.m.Rejected(knock.ReasonReplay) != 1 {
		t.Fatalf("replay: firewall %v, replay rejections %d", r.fw.Log, r.e.m.Rejected(knock.ReasonReplay))
	}
	// Every single-bit alteration of another message is refused.
	m2 := sealMsg(t, key, sealed.Message{Client: netip.MustParseAddr("10.77.0.2"), Port: 22, Proto: "tcp", Time: r.clk.t, Nonce: 4})
	for bit := 0; bit < 8*len(m2); bit++ {
		forged := bytes.Clone(m2)
		forged[bit/8] ^= 1 << (bit % 8)
		r.e.spans[0].tracker.Consume(netip.MustParseAddr("10.77.0.2"))
		r.knock("10.77.0.2", sealed.Encode(span, forged)...)
	}
	if len(r.fw.Log) != 1 {
		t.Fatalf("a forged knock opened: %v", r.fw.Log)
	}
}

// Random garbage under a flood: candidates are tried with skips, none
// passes the tag.
func TestSealedGarbageNeverOpens(t *testing.T) {
	t.Parallel()
	r, _, _ := sealedRig(t)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 20000; i++ {
		r.clk.t = r.clk.t.Add(time.Millisecond)
		r.e.Handle(source.Hit{Time: r.clk.t, Src: netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(8))}), Proto: "tcp", Port: uint16(40000 + rng.IntN(256))})
	}
	r.e.acts.drain()
	if len(r.fw.Log) != 0 {
		t.Fatalf("garbage opened: %v", r.fw.Log)
	}
}

func TestSPAOpensWithOnePacket(t *testing.T) {
	r, key, _ := sealedRig(t)
	msg := sealMsg(t, key, sealed.Message{Implicit: true, Client: netip.MustParseAddr("fd77::2"), Port: 1194, Proto: "udp", Duration: time.Hour, Time: r.clk.t, Nonce: 5})
	dgram := sealed.MarshalSPA(msg)
	r.e.Handle(source.Hit{Time: r.clk.t, Src: netip.MustParseAddr("fd77::2"), Proto: knock.UDP, Port: 62201, Payload: dgram})
	r.e.Handle(source.Hit{Time: r.clk.t, Src: netip.MustParseAddr("fd77::2"), Proto: knock.UDP, Port: 62201, Payload: dgram})
	r.e.acts.drain()
	if !slices.Equal(r.fw.Log, []string{"open fd77::2 udp/1194 1h0m0s"}) || r.e.m.Rejected(knock.ReasonReplay) != 1 {
		t.Fatalf("SPA: firewall %v, replays %d", r.fw.Log, r.e.m.Rejected(knock.ReasonReplay))
	}
	// From another source, the implicit address does not authenticate.
	msg2 := sealMsg(t, key, sealed.Message{Implicit: true, Client: netip.MustParseAddr("fd77::2"), Port: 1194, Proto: "udp", Time: r.clk.t, Nonce: 6})
	r.e.Handle(source.Hit{Time: r.clk.t, Src: netip.MustParseAddr("fd77::3"), Proto: knock.UDP, Port: 62201, Payload: sealed.MarshalSPA(msg2)})
	r.e.acts.drain()
	if len(r.fw.Log) != 1 || r.e.m.Rejected(knock.ReasonAuth) != 1 {
		t.Fatalf("SPA from a spoofed source: firewall %v, auth rejections %d", r.fw.Log, r.e.m.Rejected(knock.ReasonAuth))
	}
}

// allowsource = no refuses sealed knocks that carry no address; the same
// knock opens when it is allowed.
func TestRefuseSource(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		r, key, span := sealedRig(t)
		r.e.cfg.RefuseSource = refuse
		msg := sealMsg(t, key, sealed.Message{Implicit: true, Client: netip.MustParseAddr("10.77.0.2"), Port: 22, Proto: "tcp", Time: r.clk.t, Nonce: 9})
		r.knock("10.77.0.2", sealed.Encode(span, msg)...)
		if opened := len(r.fw.Log) == 1; opened == refuse {
			t.Errorf("RefuseSource %v: firewall %v", refuse, r.fw.Log)
		}
		if refuse && r.e.m.Rejected(knock.ReasonClient) != 1 {
			t.Errorf("not refused for reason client: %d", r.e.m.Rejected(knock.ReasonClient))
		}
	}
}
