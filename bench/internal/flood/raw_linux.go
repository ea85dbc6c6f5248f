package flood

import (
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw is a raw IPv4 socket (IPPROTO_RAW: the header is ours) sending to
// one destination. Open it on a thread that is inside the namespace the
// packets must stay in: the socket belongs to the namespace it was
// created in, whatever thread writes to it later.
type Raw struct {
	fd   int
	sa   unix.RawSockaddrInet4
	msgs []unix.Mmsghdr
	iovs []unix.Iovec
}

// OpenRaw opens the socket toward dst.
func OpenRaw(dst netip.Addr) (*Raw, error) {
	if !dst.Is4() {
		return nil, fmt.Errorf("raw socket to %q: %w", dst, ErrNotIPv4)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("raw socket: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	r := &Raw{fd: fd}
	r.sa.Family = unix.AF_INET
	r.sa.Addr = dst.As4()
	return r, nil
}

// Close closes the socket.
func (r *Raw) Close() error { return unix.Close(r.fd) }

// WriteBatch sends the packets with one sendmmsg call (more if the kernel
// takes fewer), and returns how many went.
func (r *Raw) WriteBatch(pkts [][]byte) (int, error) {
	if cap(r.msgs) < len(pkts) {
		r.msgs = make([]unix.Mmsghdr, len(pkts))
		r.iovs = make([]unix.Iovec, len(pkts))
	}
	msgs, iovs := r.msgs[:len(pkts)], r.iovs[:len(pkts)]
	for i, p := range pkts {
		iovs[i].Base = &p[0]
		iovs[i].SetLen(len(p))
		msgs[i] = unix.Mmsghdr{}
		msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.sa))
		msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	sent := 0
	for sent < len(msgs) {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&msgs[sent])), uintptr(len(msgs)-sent), 0, 0, 0)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.ENOBUFS || errno == unix.EAGAIN:
			return sent, nil // the queue is full: these packets are lost, counted by the caller
		case errno == unix.EBADF || errno == unix.ENOTSOCK:
			return sent, errors.Join(errFatal, errno)
		case errno != 0:
			return sent, errno
		}
		sent += int(n)
	}
	return sent, nil
}

// Send sends one packet.
func (r *Raw) Send(pkt []byte) error {
	return unix.Sendto(r.fd, pkt, 0, &unix.SockaddrInet4{Addr: r.sa.Addr})
}
