// Package packet turns the bytes of one captured packet into a knock hit.
//
// The network sources see packets, not log lines: source/nflog gets IP
// packets from the kernel's NFLOG, source/afpacket gets Ethernet frames from
// a packet socket. Both hand them here. A knock is a TCP SYN (SYN set, ACK
// clear) or a UDP datagram, over IPv4 or IPv6; a UDP knock's payload is
// kept, because the single-packet authorization mode sends its sealed
// message in one datagram.
//
// Everything here is outside input, read under flood: parsing allocates
// nothing but the copy of a hit's payload, walks IPv6 extension headers and
// VLAN tags only up to a bound, and answers bad input with a sentinel error
// that the sources count and drop. Checksums are not verified: the kernel
// checks them after NFLOG and packet sockets have seen the packet, and a
// knock's source address is no more trustworthy with a good checksum.
package packet

import (
	"encoding/binary"
	"errors"

	"github.com/portknock/knock/source"
)

// Why a packet is not a hit. Sources count them and drop the packet.
var (
	// ErrTruncated means the packet ends before its headers say it does.
	ErrTruncated = errors.New("packet truncated")
	// ErrMalformed means a header holds an impossible value.
	ErrMalformed = errors.New("malformed packet")
	// ErrNotKnock means a well-formed packet that is no knock: another
	// protocol, a TCP segment other than a SYN, a later fragment.
	ErrNotKnock = errors.New("packet is not a knock")
)

// Bounds on the header walks, so that a crafted packet costs little.
const (
	// MaxExtHeaders is how many IPv6 extension headers are stepped over.
	MaxExtHeaders = 8
	// MaxVLANTags is how many 802.1Q/802.1ad tags a frame may carry.
	MaxVLANTags = 2
)

// EtherTypes of the frames parsed.
const (
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	etherVLAN   = 0x8100 // 802.1Q
	etherQinQ   = 0x88a8 // 802.1ad
	etherQinQv1 = 0x9100 // pre-standard double tagging
	etherHeader = 14
	vlanTag     = 4
)

// ParseIP parses an IP packet, IPv4 or IPv6 by its version, as NFLOG
// delivers it. The hit's Time is left for the caller to set.
func ParseIP(b []byte) (source.Hit, error) {
	var v view
	if err := parseIP(b, &v); err != nil {
		return source.Hit{}, err
	}
	if !v.syn() {
		return source.Hit{}, ErrNotKnock
	}
	return v.hit(), nil
}

// ParseFrame parses an Ethernet frame, with up to MaxVLANTags tags, as a
// packet socket delivers it.
func ParseFrame(b []byte) (source.Hit, error) {
	var v view
	if err := parseFrame(b, &v); err != nil {
		return source.Hit{}, err
	}
	if !v.syn() {
		return source.Hit{}, ErrNotKnock
	}
	return v.hit(), nil
}

func parseFrame(b []byte, v *view) error {
	if len(b) < etherHeader {
		return ErrTruncated
	}
	typ := binary.BigEndian.Uint16(b[12:14])
	b = b[etherHeader:]
	for tags := 0; isVLAN(typ); tags++ {
		if tags == MaxVLANTags {
			return ErrMalformed
		}
		if len(b) < vlanTag {
			return ErrTruncated
		}
		typ = binary.BigEndian.Uint16(b[2:4])
		b = b[vlanTag:]
	}
	switch typ {
	case etherIPv4:
		return parseIPv4(b, v)
	case etherIPv6:
		return parseIPv6(b, v)
	}
	return ErrNotKnock
}

func isVLAN(typ uint16) bool {
	return typ == etherVLAN || typ == etherQinQ || typ == etherQinQv1
}

func parseIP(b []byte, v *view) error {
	if len(b) == 0 {
		return ErrTruncated
	}
	switch b[0] >> 4 {
	case 4:
		return parseIPv4(b, v)
	case 6:
		return parseIPv6(b, v)
	}
	return ErrMalformed
}
