package knockd_test

import (
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/portknock/knock/knockd"
)

// The daemon's use of the package: read the file, report the stops a
// crash lost, then feed every captured packet to the Matcher and every
// open to the Runner (or to the firewall, for a door's Grants).
func Example() {
	dir, _ := os.MkdirTemp("", "knockd-example")
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "knockd.conf")
	os.WriteFile(conf, []byte(`[options]
	Interface = eth0
[openSSH]
	sequence      = 7000,8000:udp,9000
	seq_timeout   = 5
	tcpflags      = syn
	start_command = echo open %IP%
	stop_command  = echo close %IP%
	grant         = tcp/22
`), 0o600)

	cfg, err := knockd.Parse(conf)
	if err != nil {
		log.Fatal(err) // names file:line and what was expected
	}
	state := filepath.Join(dir, "pending-stops.json")
	lost, _ := knockd.LostStops(state)
	for _, s := range lost {
		log.Printf("lost stop of door %q for %s: %s", s.Door, s.Source, s.Command)
	}
	runner, err := knockd.NewRunner(knockd.RunnerConfig{StateFile: state})
	if err != nil {
		log.Fatal(err)
	}
	defer runner.Close() // runs the stops still pending

	host := netip.MustParseAddr("192.0.2.1")
	m := knockd.NewMatcher(cfg, knockd.MatcherConfig{Local: []netip.Addr{host}})
	src := netip.MustParseAddr("198.51.100.7")
	now := time.Now()
	for _, step := range cfg.Doors[0].Sequence {
		p := knockd.Packet{Time: now, Src: src, Dst: host, Iface: "eth0", Proto: step.Proto, Port: step.Port, TCPFlags: knockd.SYN}
		for _, ev := range m.Packet(p) {
			fmt.Printf("%s opens for %s, grants %v\n", ev.Door.Name, ev.Src, ev.Door.Grants)
			runner.Open(ev)
		}
	}
	// Output: openSSH opens for 198.51.100.7, grants [{tcp 22}]
}
