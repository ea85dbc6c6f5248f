package nflog

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The NFLOG protocol (include/uapi/linux/netfilter/nfnetlink_log.h): the
// messages, commands and attributes this source uses.
const (
	msgPacket = unix.NFNL_SUBSYS_ULOG << 8 // NFULNL_MSG_PACKET (0)
	msgConfig = msgPacket | 1              // NFULNL_MSG_CONFIG

	cfgCmd     = 1 // NFULA_CFG_CMD
	cfgMode    = 2 // NFULA_CFG_MODE
	cfgNlBuf   = 3 // NFULA_CFG_NLBUFSIZ
	cfgTimeout = 4 // NFULA_CFG_TIMEOUT, in 1/100 s
	cfgQThresh = 5 // NFULA_CFG_QTHRESH
	cfgFlags   = 6 // NFULA_CFG_FLAGS

	cmdBind     = 1 // NFULNL_CFG_CMD_BIND
	copyPacket  = 2 // NFULNL_COPY_PACKET
	flagSeq     = 1 // NFULNL_CFG_F_SEQ
	attrPayload = 9 // NFULA_PAYLOAD
	attrSeq     = 12

	nlaTypeMask = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// Batching (Config.Batch above 1): the kernel hands logged packets over
// in batches of up to Batch packets, or after FlushTimeout when fewer
// came, one read for a whole batch instead of one per packet. A lone
// knock waits the flush timeout: 10 ms, the least the kernel counts,
// measured in docs/benchmarks.md.
const (
	MaxBatch     = 1024
	FlushTimeout = 10 * time.Millisecond
	flushTimeout = 1 // FlushTimeout in 1/100 s
	// nlBufSize is the kernel's buffer for one batch (NFULA_CFG_NLBUFSIZ):
	// room for a few dozen knock packets with their attributes; a batch
	// that does not fit is sent early, so it bounds memory, not
	// correctness.
	nlBufSize = 64 << 10
	// recvSize is the reader's one buffer: a batch, or a whole logged
	// packet of 64 KiB with its headers.
	recvSize = nlBufSize + 4<<10
)

// bind configures the socket's NFLOG instance for group: whole packets
// (up to 64 KiB), sequence numbers, batches of batch packets or
// FlushTimeout (1: each packet at once).
func bind(c *netlink.Conn, group uint16, batch int) error {
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	steps := []struct {
		what  string
		attrs []netlink.Attribute
	}{
		{"binding", []netlink.Attribute{{Type: cfgCmd, Data: []byte{cmdBind}}}},
		{"setting copy mode", []netlink.Attribute{{Type: cfgMode, Data: append(be32(0xffff), copyPacket, 0)}}},
		{"setting batches", []netlink.Attribute{
			{Type: cfgNlBuf, Data: be32(nlBufSize)},
			{Type: cfgTimeout, Data: be32(flushTimeout)},
			{Type: cfgQThresh, Data: be32(uint32(batch))},
			{Type: cfgFlags, Data: binary.BigEndian.AppendUint16(nil, flagSeq)},
		}},
	}
	for _, s := range steps {
		data, err := netlink.MarshalAttributes(s.attrs)
		if err != nil {
			return err
		}
		// struct nfgenmsg: family, version, resource id (the group).
		hdr := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, byte(group >> 8), byte(group)}
		if _, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: msgConfig, Flags: netlink.Request | netlink.Acknowledge},
			Data:   append(hdr, data...),
		}); err != nil {
			return fmt.Errorf("%s nflog group %d: %w", s.what, group, err)
		}
	}
	return nil
}

// packets calls fn for each logged packet in b, a read from the socket:
// its sequence number (if it has one) and payload, which lies in b and
// is valid only during the call. It reads in place and allocates
// nothing. fn returns false to stop.
func packets(b []byte, fn func(seq uint32, hasSeq bool, payload []byte) bool) bool {
	for len(b) >= unix.NLMSG_HDRLEN {
		n := int(binary.NativeEndian.Uint32(b[0:4]))
		if n < unix.NLMSG_HDRLEN || n > len(b) {
			return true // truncated: the rest is lost
		}
		typ := binary.NativeEndian.Uint16(b[4:6])
		msg := b[unix.NLMSG_HDRLEN:n]
		b = b[min(nlAlign(n), len(b)):]
		if typ != msgPacket || len(msg) < 4 {
			continue
		}
		var (
			seq     uint32
			hasSeq  bool
			payload []byte
		)
		for a := msg[4:]; len(a) >= 4; {
			l := int(binary.NativeEndian.Uint16(a[0:2]))
			if l < 4 || l > len(a) {
				break
			}
			switch binary.NativeEndian.Uint16(a[2:4]) & nlaTypeMask {
			case attrPayload:
				payload = a[4:l]
			case attrSeq:
				if l >= 8 {
					seq, hasSeq = binary.BigEndian.Uint32(a[4:8]), true
				}
			}
			a = a[min(nlAlign(l), len(a)):]
		}
		if !fn(seq, hasSeq, payload) {
			return false
		}
	}
	return true
}

func nlAlign(n int) int { return (n + 3) &^ 3 }
