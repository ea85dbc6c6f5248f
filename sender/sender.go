// Package sender puts knocks on the wire: a TCP SYN that never completes a
// handshake, or a UDP datagram (empty for a plain knock, or carrying a
// single-packet authorization), each from a socket of its own so that
// the kernel picks a fresh source port every time. It needs no privilege:
// where the socket filter of a TCP knock is refused to a user, the knock
// goes without it.
//
// knockclient sends through it, and so do the tests of the packet sources,
// which need real packets but none of the client.
package sender

import (
	"github.com/portknock/knock"
)

// Packet is one knock: a TCP SYN or a UDP datagram to Port, carrying
// Payload (UDP only; nil for a plain knock).
type Packet struct {
	Proto   knock.Proto
	Port    uint16
	Payload []byte
}
