package ebpf

import (
	"encoding/binary"
	"net/netip"
	"os"

	"github.com/portknock/knock"
	"github.com/portknock/knock/source"
)

// Ring buffer records, as bpf/knock.c writes them (host byte order):
//
//	header: kind u32, n u32, source address [16]byte (IPv4 mapped)
//	entry:  time u64 (CLOCK_MONOTONIC ns), destination [16]byte,
//	        port u16, protocol u8, 5 bytes of padding
//
// A queue record (kindQueue) is the header and QueueLen entries, of which
// the first n are the source's queue, oldest first. A hit record
// (kindHit) is the header and one entry. A single-packet record (kindSPA)
// is the header, one entry and PayloadMax bytes, of which the first n are
// the datagram's payload.
const (
	kindQueue = 1
	kindHit   = 2
	kindSPA   = 3

	headerLen = 24
	entryLen  = 32
	queueLen  = headerLen + QueueLen*entryLen
	hitLen    = headerLen + entryLen
	spaLen    = hitLen + PayloadMax
)

var errDeadline = os.ErrDeadlineExceeded

// Protocol numbers in an entry.
const (
	ipprotoTCP = 6
	ipprotoUDP = 17
)

var order = binary.NativeEndian

// decoder turns records into hits.
type decoder struct{}

// decode appends the hits of one record to hits; ok is false for a record
// that does not parse (a program and a daemon of different versions).
func (decoder) decode(hits []source.Hit, rec []byte, c clock) (_ []source.Hit, ok bool) {
	if len(rec) < headerLen {
		return hits, false
	}
	kind, n := order.Uint32(rec[0:]), order.Uint32(rec[4:])
	src := netip.AddrFrom16([16]byte(rec[8:24])).Unmap()
	switch {
	case kind == kindQueue && len(rec) >= queueLen && n <= QueueLen:
	case kind == kindHit && len(rec) >= hitLen && n == 1:
	case kind == kindSPA && len(rec) >= spaLen && n <= PayloadMax:
	default:
		return hits, false
	}
	count := int(n)
	if kind == kindSPA {
		count = 1
	}
	for i := range count {
		e := rec[headerLen+i*entryLen:]
		h := source.Hit{
			Time: c.at(order.Uint64(e[0:])),
			Src:  src,
			Dst:  netip.AddrFrom16([16]byte(e[8:24])).Unmap(),
			Port: order.Uint16(e[24:]),
		}
		switch e[26] {
		case ipprotoTCP:
			h.Proto = knock.TCP
		case ipprotoUDP:
			h.Proto = knock.UDP
		default:
			return hits, false
		}
		if kind == kindSPA {
			h.Payload = append([]byte{}, rec[hitLen:hitLen+int(n)]...)
		}
		hits = append(hits, h)
	}
	return hits, true
}
