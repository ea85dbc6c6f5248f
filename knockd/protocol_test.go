package knockd

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/source"
)

func TestProtocol(t *testing.T) {
	dir := t.TempDir()
	otp := filepath.Join(dir, "otp")
	os.WriteFile(otp, []byte("7100,7200:udp\n# 1,2\nbad\n7300,7400\n"), 0o600)
	conf := filepath.Join(dir, "knockd.conf")
	os.WriteFile(conf, []byte(`[ssh]
	sequence    = 7000,8000:udp
	tcpflags    = ack,!syn
	grant       = tcp/22, udp/53
	cmd_timeout = 30
[once]
	one_time_sequences = `+otp+`
	start_command      = true
`), 0o600)
	c, err := Parse(conf)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProtocol(c, MatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := []knock.Port{{Proto: knock.TCP, Port: 7000}, {Proto: knock.UDP, Port: 8000}, {Proto: knock.TCP, Port: 7100}, {Proto: knock.UDP, Port: 7200}, {Proto: knock.TCP, Port: 7300}, {Proto: knock.TCP, Port: 7400}}
	if got := p.Ports(); !slices.Equal(got, want) {
		t.Errorf("ports %v, want %v (every line of the one-time file)", got, want)
	}
	if p.Interface() != "" {
		t.Errorf("interface %q, want none", p.Interface())
	}

	src, dst := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("203.0.113.1")
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	hit := func(proto knock.Proto, port uint16, flags uint8) int {
		at = at.Add(10 * time.Millisecond)
		ops := p.Observe(source.Hit{Time: at, Src: src, Dst: dst, Proto: proto, Port: port, TCPFlags: flags, Iface: "eth1"})
		for _, o := range ops {
			if o.Request.User != "ssh" || o.Request.Client != src || o.Request.Duration != 30*time.Second ||
				!slices.Equal(o.Request.Ports, []knock.Port{{Proto: knock.TCP, Port: 22}, {Proto: knock.UDP, Port: 53}}) || o.Run != nil {
				t.Errorf("opening %+v", o)
			}
		}
		return len(ops)
	}
	// A SYN is ignored by the door (TCPFlags = ack,!syn), an ACK starts it.
	if hit(knock.TCP, 7000, SYN) != 0 || hit(knock.TCP, 7000, ACK) != 0 || hit(knock.UDP, 8000, 0) != 1 {
		t.Error("the ACK then datagram did not open the door once")
	}
	// A hit without flags (a log line) counts as a SYN: not for this door.
	if hit(knock.TCP, 7000, 0) != 0 || hit(knock.UDP, 8000, 0) != 0 {
		t.Error("a flagless hit opened a door that wants ACK")
	}
}

// With an Interface in the file, hits from another interface are not
// seen; hits that do not say theirs are taken as from it.
func TestProtocolInterface(t *testing.T) {
	c, err := ParseText("knockd.conf", "[options]\n\tInterface = eth1\n[d]\n\tsequence = 7000\n\tgrant = tcp/22\n")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProtocol(c, MatcherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Interface() != "eth1" {
		t.Fatalf("interface %q", p.Interface())
	}
	h := source.Hit{Time: time.Now(), Src: netip.MustParseAddr("192.0.2.7"), Dst: netip.MustParseAddr("192.0.2.1"), Proto: knock.TCP, Port: 7000, TCPFlags: SYN}
	for iface, want := range map[string]int{"eth0": 0, "eth1": 1, "": 1} {
		h.Iface = iface
		if got := len(p.Observe(h)); got != want {
			t.Errorf("a hit from %q opened %d doors, want %d", iface, got, want)
		}
	}
}
