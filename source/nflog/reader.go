package nflog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/packet"
)

// maxErrorRun is how many socket errors in a row, with no packet between,
// make the reader give up: one error is survived, a socket that only
// returns errors is broken.
const maxErrorRun = 100

// reader is one Run's socket, from bind to close. It reads the socket
// itself, with recvmmsg into buffers allocated at start, all the queued
// messages (up to readBatch) in one system call: go-nflog's loop
// (through mdlayher/netlink's Receive) peeks at every message before
// reading it, two system calls per packet, and allocates a buffer and a
// dozen attribute values per packet.
type reader struct {
	conn   *netlink.Conn
	batch  *batchReader
	hookFn func(uint32, bool, []byte) bool
	done   chan struct{} // closed when the receiving goroutine ends
	filter *packet.Filter
	iface  string // the rule's interface, "" for any
	out    chan<- source.Hit
	ctx    context.Context
	cancel context.CancelFunc
	fatal  chan error

	// Touched by the receiving goroutine only.
	seq      uint32
	seqKnown bool
	errorRun int

	// mu is held while a hit is handed over, so that stop can wait for the
	// last one and no hit is sent after Run returns.
	mu      sync.Mutex
	stopped bool
}

// listen opens the NFLOG socket and binds it to the group.
func (s *Source) listen(ctx context.Context, out chan<- source.Hit) (*reader, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: s.cfg.NetNSFd})
	if err != nil {
		return nil, fmt.Errorf("opening the nflog socket: %w", err)
	}
	if err := tune(c, s.cfg.ReadBuffer); err != nil {
		c.Close()
		return nil, err
	}
	if err := bind(c, s.cfg.Group, s.cfg.Batch); err != nil {
		c.Close()
		// The kernel answers EPERM to a bind of a group another socket
		// has; with CAP_NET_ADMIN that is the only reason.
		if errors.Is(err, unix.EPERM) && netAdmin() {
			return nil, fmt.Errorf("%w: give this daemon its own nfloggroup", &GroupInUseError{Group: s.cfg.Group})
		}
		return nil, err
	}
	r := &reader{
		conn: c, batch: newBatchReader(recvSize), done: make(chan struct{}),
		filter: s.filter, iface: s.cfg.Interface, out: out, fatal: make(chan error, 1),
	}
	r.hookFn = r.hook
	r.ctx, r.cancel = context.WithCancel(ctx)
	go r.receive()
	return r, nil
}

// GroupInUseError refuses a group that another socket (another daemon,
// ulogd) is bound to: the kernel hands each logged packet to one socket,
// so sharing a group would split the knocks between two daemons.
type GroupInUseError struct{ Group uint16 }

func (e *GroupInUseError) Error() string {
	return fmt.Sprintf("NFLOG group %d is in use by another process", e.Group)
}

// netAdmin reports whether this process has CAP_NET_ADMIN in effect.
func netAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_NET_ADMIN) != 0
}

// receive reads batches of logged packets until the socket is closed or
// fails for good.
func (r *reader) receive() {
	defer close(r.done)
	raw, err := r.conn.SyscallConn()
	if err != nil {
		r.fail(err)
		return
	}
	var (
		n    int
		rerr error
	)
	read := func(fd uintptr) bool {
		n, rerr = r.batch.recv(fd)
		return rerr != unix.EAGAIN
	}
	for {
		err := raw.Read(read)
		if err == nil {
			err = rerr
		}
		if err != nil {
			if r.onError(err) != 0 {
				return
			}
			continue
		}
		for i := range n {
			if !packets(r.batch.msg(i), r.hookFn) {
				return
			}
		}
	}
}

// tune sets the socket options: no ENOBUFS error on overrun (it is counted
// from sequence gaps instead), and a receive buffer large enough for a
// burst. As root the buffer may exceed net.core.rmem_max.
func tune(c *netlink.Conn, size int) error {
	if err := c.SetOption(netlink.NoENOBUFS, true); err != nil {
		return fmt.Errorf("setting NETLINK_NO_ENOBUFS: %w", err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
	}); err != nil {
		return err
	}
	if serr != nil {
		if err := c.SetReadBuffer(size); err != nil {
			return fmt.Errorf("setting the receive buffer to %d bytes: %w", size, err)
		}
	}
	return nil
}

// hook handles one logged packet; false stops the reader.
func (r *reader) hook(seq uint32, hasSeq bool, payload []byte) bool {
	r.errorRun = 0
	if hasSeq {
		r.countGap(seq)
	}
	if payload == nil {
		return true
	}
	h, ok := r.filter.IP(payload)
	if !ok {
		return true
	}
	h.Iface = r.iface
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return false
	}
	select {
	case r.out <- h:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// countGap counts the packets the kernel logged but could not queue to
// the socket: their sequence numbers never arrive.
func (r *reader) countGap(seq uint32) {
	if r.seqKnown && seq != r.seq+1 {
		r.filter.CountOverruns(uint64(seq - r.seq - 1))
	}
	r.seq, r.seqKnown = seq, true
}

// onError decides whether the receiving goroutine goes on (0) or stops.
func (r *reader) onError(err error) int {
	if r.ctx.Err() != nil {
		return 1 // stopping: closing the socket woke the read
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		return r.fail(err)
	}
	r.filter.CountReadError()
	if r.errorRun++; r.errorRun == maxErrorRun {
		return r.fail(err)
	}
	return 0
}

func (r *reader) fail(err error) int {
	select {
	case r.fatal <- fmt.Errorf("reading the nflog socket: %w", err):
	default:
	}
	return 1
}

// stop ends the reader: after it returns, no hit is sent.
func (r *reader) stop() {
	r.cancel()
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.conn.Close()
	<-r.done
}
