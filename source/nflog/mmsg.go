package nflog

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readBatch is the size of one recvmmsg(2): how many socket messages one
// system call may return. Idle, a read returns the one message there is,
// at once; under a flood, up to readBatch, so that the cost of the call
// is shared by as many packets.
const readBatch = 16

// mmsghdr is struct mmsghdr, which x/sys/unix does not declare.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// batchReader reads up to readBatch messages per system call into
// buffers allocated once.
type batchReader struct {
	bufs [readBatch][]byte
	iovs [readBatch]unix.Iovec
	hdrs [readBatch]mmsghdr
}

func newBatchReader(size int) *batchReader {
	b := new(batchReader)
	for i := range b.bufs {
		b.bufs[i] = make([]byte, size)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(size)
		b.hdrs[i].hdr.Iov = &b.iovs[i]
		b.hdrs[i].hdr.SetIovlen(1)
	}
	return b
}

// recv is one non-blocking recvmmsg on fd: the number of messages read,
// each in bufs[i][:msg(i)].
func (b *batchReader) recv(fd uintptr) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), readBatch, unix.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		return 0, syscall.Errno(errno)
	}
	return int(n), nil
}

// msg returns the i-th message of the last recv.
func (b *batchReader) msg(i int) []byte { return b.bufs[i][:b.hdrs[i].n] }
