package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The receive ring is TPACKET_V3 (Documentation/networking/packet_mmap.rst
// in the kernel's tree): the kernel writes the packets its filter passes
// into blocks of a memory area shared with the daemon, and wakes the
// daemon once per block, when a block is full or has waited retireMs. A
// flood costs one wake-up per block of packets instead of one recvfrom per
// packet, and no copy out of the kernel.
//
// No library is used for it: google/gopacket's afpacket and its community
// fork gopacket/gopacket's both import "C" (header.go includes
// linux/if_packet.h), and the project builds without cgo;
// mdlayher/packet, which opens the socket here, has no ring. What is
// missing is small: golang.org/x/sys/unix has the constants and the
// tpacket_req3 request, and the rest is the walk below.
const (
	// blockBytes is the size of a block: a power of two times the page
	// size, which the kernel wants, and larger than the largest packet
	// (64 KiB and headers), which it would truncate.
	blockBytes = 128 << 10
	// frameBytes is the nominal frame size the request must name; a
	// TPACKET_V3 block packs frames of any length, so it limits nothing.
	frameBytes = 2 << 10
	// retireMs is how long the kernel waits, in milliseconds, before it
	// hands over a block that is not full: what a lone knock waits at most
	// for the daemon to see it.
	retireMs = 2
)

// Offsets in a block (struct tpacket_block_desc, whose header is a struct
// tpacket_hdr_v1) and in a frame (struct tpacket3_hdr).
const (
	blockStatus      = 8  // h1.block_status
	blockPackets     = 12 // h1.num_pkts
	blockFirstPacket = 16 // h1.offset_to_first_pkt
	frameNext        = 0  // tp_next_offset
	frameSnaplen     = 12 // tp_snaplen
	frameMac         = 24 // tp_mac
)

// ring is the mapped TPACKET_V3 receive ring of a packet socket. Only the
// goroutine of Run reads it.
type ring struct {
	mem       []byte
	blockSize int
	blocks    int
	next      int // the block the kernel fills next, and hands over next
}

// ringRequest shapes a ring of about size bytes: blocks of blockBytes, or,
// for a ring smaller than two of those, two blocks of at least a page.
func ringRequest(size int) unix.TpacketReq3 {
	page := os.Getpagesize()
	bs := blockBytes
	for bs > page && 2*bs > size {
		bs /= 2
	}
	n := max(2, (size+bs-1)/bs)
	return unix.TpacketReq3{
		Block_size:     uint32(bs),
		Block_nr:       uint32(n),
		Frame_size:     frameBytes,
		Frame_nr:       uint32(bs / frameBytes * n),
		Retire_blk_tov: retireMs,
	}
}

// setupRing turns the socket fd into a TPACKET_V3 reader and maps its ring.
func setupRing(fd int, req unix.TpacketReq3) (*ring, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("setting PACKET_VERSION to TPACKET_V3: %w", err)
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("setting up a receive ring of %d blocks of %d bytes: %w", req.Block_nr, req.Block_size, err)
	}
	size := int(req.Block_size) * int(req.Block_nr)
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mapping the receive ring of %d bytes: %w", size, err)
	}
	return &ring{mem: mem, blockSize: int(req.Block_size), blocks: int(req.Block_nr)}, nil
}

// status is the status word of block i, which the kernel and the daemon
// pass to each other: atomic, so that a block's packets are read only
// after the kernel has written them and handed the block over.
func (r *ring) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[i*r.blockSize+blockStatus]))
}

// ready reports whether the kernel has handed over the next block.
func (r *ring) ready() bool {
	return atomic.LoadUint32(r.status(r.next))&unix.TP_STATUS_USER != 0
}

// block is the next block; valid until release.
func (r *ring) block() []byte {
	return r.mem[r.next*r.blockSize : (r.next+1)*r.blockSize]
}

// release hands the next block back to the kernel and moves on.
func (r *ring) release() {
	atomic.StoreUint32(r.status(r.next), unix.TP_STATUS_KERNEL)
	r.next = (r.next + 1) % r.blocks
}

// unmap unmaps the ring; the ring must not be used after.
func (r *ring) unmap() error {
	err := unix.Munmap(r.mem)
	r.mem = nil
	return err
}

// errBlock is a block whose frames lie outside it: the kernel's doing,
// never the network's.
var errBlock = errors.New("a frame of a ring block lies outside the block")

// frames walks the frames of a block handed over by the kernel: each call
// of next returns the next packet (from its link-layer header, or its IP
// header on a cooked socket), or ok false at the end. The packets are the
// ring's memory: they must not be kept after release.
type frames struct {
	b    []byte
	left uint32
	off  uint32
	err  error
}

func newFrames(block []byte) frames {
	ne := binary.NativeEndian
	return frames{b: block, left: ne.Uint32(block[blockPackets:]), off: ne.Uint32(block[blockFirstPacket:])}
}

func (f *frames) next() (pkt []byte, ok bool) {
	if f.left == 0 {
		return nil, false
	}
	f.left--
	ne := binary.NativeEndian
	n := uint64(len(f.b))
	if uint64(f.off)+unix.SizeofTpacket3Hdr > n {
		f.left, f.err = 0, errBlock
		return nil, false
	}
	h := f.b[f.off:]
	start := uint64(f.off) + uint64(ne.Uint16(h[frameMac:]))
	end := start + uint64(ne.Uint32(h[frameSnaplen:]))
	if end > n {
		f.left, f.err = 0, errBlock
		return nil, false
	}
	next := ne.Uint32(h[frameNext:])
	if next == 0 && f.left > 0 { // the last frame, before the count says so
		f.left, f.err = 0, errBlock
	}
	f.off += next
	return f.b[start:end], true
}
