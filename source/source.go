// Package source defines where knocks come from: every packet that reaches
// a port of the knock span becomes a Hit, whether it was read from a
// firewall log (source/logfile), from the kernel through NFLOG
// (source/nflog), or from a packet socket (source/afpacket).
//
// A source only reports; deciding what a sequence of hits means is the
// daemon's job. Sources never answer the network.
package source

import (
	"context"
	"net/netip"
	"time"

	"github.com/portknock/knock"
)

// Hit is one packet seen on a port: a TCP SYN or a UDP datagram, or, on
// the ports of knockd's doors, a TCP segment with any flags.
type Hit struct {
	Time  time.Time   // when the packet arrived (or was logged)
	Src   netip.Addr  // its source address, unmapped (IPv4 as 4 bytes)
	Dst   netip.Addr  // its destination, when known
	Proto knock.Proto // knock.TCP or knock.UDP
	Port  uint16      // its destination port
	// Payload is the UDP payload, for single-packet authorization; nil
	// when the source cannot see payloads (log files) or for TCP.
	Payload []byte
	// TCPFlags are the TCP header's flags (FIN 0x01 ... URG 0x20), when
	// the source knows them; 0 for UDP. knockd's doors match on them.
	TCPFlags uint8
	// Iface is the interface the packet arrived on, "" when unknown.
	Iface string
}

// Source delivers hits until its context ends or it fails.
type Source interface {
	// Run sends every hit to out and returns when ctx is done (nil) or
	// when the source cannot go on (an error saying why). It must not
	// close out.
	Run(ctx context.Context, out chan<- Hit) error
}

// Counters is implemented by sources that count what they drop (lines that
// match no pattern, packets too short to parse, ...), for the operator's
// metrics. Names are lower_case_with_underscores.
type Counters interface {
	Counters() map[string]uint64
}

// Readier is implemented by sources that take a moment to start: binding
// a socket, installing a rule, attaching a program. Ready is closed once
// the source sees knocks sent from then on; a source that fails first
// returns its error from Run instead, and Ready stays open. The daemon
// announces that it started only then.
type Readier interface {
	Ready() <-chan struct{}
}
