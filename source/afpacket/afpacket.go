// Package afpacket is the knock source of runmode = network on hosts where
// the daemon may not touch the ruleset: a packet socket on one interface
// sees every packet that arrives on it, before any firewall rule, without
// any rule of its own.
//
// A classic BPF program attached to the socket keeps the kernel from
// waking the daemon for ordinary traffic: only IPv4 and IPv6 TCP SYNs and
// UDP datagrams pass, and, when the watched ports form up to 64 ranges,
// only those to a watched port. With knockd's door ports to watch
// (Config.AnyFlags), TCP segments pass whatever their flags, and Go keeps
// only SYNs for the span. Go then parses what passed and decides (package
// source/packet). The socket ignores the host's own outgoing packets
// (PACKET_IGNORE_OUTGOING).
//
// The socket reads through a TPACKET_V3 receive ring (ring.go): the kernel
// writes what its filter passes into shared blocks and wakes the daemon
// once per block, full or a few milliseconds old, so that a flood of
// likely knocks costs a wake-up per block, not a system call per packet.
//
// On an Ethernet-like interface the socket reads whole frames; elsewhere
// (tun, WireGuard) it reads IP packets. The kernel removes a VLAN tag
// before a packet socket on the parent interface sees the frame, so a
// source on eth0 also sees knocks to addresses of its VLAN interfaces.
//
// The socket is opened by Open, in the network namespace of the calling
// thread: a test opens it inside netnstest.NS.Do.
package afpacket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	packetsock "github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/packet"
)

// DefaultReadBuffer is the size of the socket's receive ring when Config
// leaves it 0: 32 blocks of 128 KiB, some 25,000 small packets.
const DefaultReadBuffer = 4 << 20

// Config says where to listen and for what.
type Config struct {
	// Interface is the name of the interface to listen on.
	Interface string
	// Span is the knock span whose ports are watched.
	Span *portspan.Span
	// Extra are more ports to watch: the single-packet port, when it
	// lies outside the span.
	Extra []uint16
	// AnyFlags are TCP ports watched whatever a segment's flags, not
	// only for SYNs: the ports of knockd's doors (TCPFlags = ack, ...).
	AnyFlags []uint16
	// ReadBuffer is the size of the socket's receive ring in bytes; 0
	// means DefaultReadBuffer. Knocks beyond it during a flood are lost.
	// A ring is at least two blocks of a page; below 256 KiB its blocks
	// shrink, and so does the largest packet read whole.
	ReadBuffer int
	// Now stamps the hits; nil means time.Now.
	Now func() time.Time
}

// Source reads knocks from a packet socket. It implements source.Source
// and source.Counters.
type Source struct {
	conn     *packetsock.Conn
	ethernet bool
	iface    string
	filter   *packet.Filter
	close    sync.Once
	closeErr error

	// ring is unmapped by whichever of Run and Close comes last.
	mu      sync.Mutex
	ring    *ring
	running bool
	closed  bool
}

var (
	_ source.Source   = (*Source)(nil)
	_ source.Counters = (*Source)(nil)
	_ source.Readier  = (*Source)(nil)
)

// ready is closed: Open bound the socket, which queues packets from then
// on, before Run reads them.
var ready = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Ready implements source.Readier: the socket is bound once Open returns.
func (s *Source) Ready() <-chan struct{} { return ready }

// Open opens the packet socket on the interface, with its filter attached,
// in the calling thread's network namespace. Packets queue in the socket
// from then on, to be read by Run.
func Open(cfg Config) (*Source, error) {
	if cfg.Span == nil && len(cfg.Extra) == 0 && len(cfg.AnyFlags) == 0 {
		return nil, errors.New("afpacket source: no knock span and no ports to watch")
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("afpacket source: interface %q: %w", cfg.Interface, err)
	}
	s := &Source{
		ethernet: len(ifi.HardwareAddr) == 6,
		iface:    cfg.Interface,
		filter:   packet.NewDoorFilter(packet.SpanPorts(cfg.Span, cfg.Extra...), packet.PortsOf(cfg.AnyFlags...), cfg.Now),
	}
	prog, err := filterProgram(s.filter.Ports(), s.filter.AnyFlags(), s.ethernet)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("afpacket source: assembling the filter: %w", err)
	}
	typ := packetsock.Datagram
	if s.ethernet {
		typ = packetsock.Raw
	}
	if s.conn, err = packetsock.Listen(ifi, typ, unix.ETH_P_ALL, &packetsock.Config{Filter: raw}); err != nil {
		return nil, fmt.Errorf("afpacket source: opening a packet socket on %q: %w", cfg.Interface, err)
	}
	if err := s.tune(cfg.ReadBuffer); err != nil {
		s.conn.Close()
		return nil, fmt.Errorf("afpacket source on %q: %w", cfg.Interface, err)
	}
	return s, nil
}

// tune ignores outgoing packets and sets up the receive ring. Packets the
// filter passed before the ring are dropped with the socket's queue.
func (s *Source) tune(size int) error {
	if size == 0 {
		size = DefaultReadBuffer
	}
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return err
	}
	var ierr, rerr error
	err = rc.Control(func(fd uintptr) {
		if ierr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); ierr == nil {
			s.ring, rerr = setupRing(int(fd), ringRequest(size))
		}
	})
	switch {
	case err != nil:
		return err
	case ierr != nil:
		return fmt.Errorf("setting PACKET_IGNORE_OUTGOING: %w", ierr)
	}
	return rerr
}

// Run delivers hits until ctx is done, then closes the socket. It returns
// an error when the socket fails for good.
//
// It waits for the ring's next block in Go's poller (epoll), which the
// kernel wakes when it hands a block over; cancelling ctx sets a read
// deadline in the past, which ends the wait. Nothing is allocated per
// packet but the copy of a UDP payload in a hit (source/packet), so a
// hit never points into the ring, which the kernel reuses.
func (s *Source) Run(ctx context.Context, out chan<- source.Hit) error {
	s.mu.Lock()
	if s.closed || s.running {
		s.mu.Unlock()
		return errors.New("afpacket source: Run after Close, or twice")
	}
	s.running = true
	r := s.ring
	s.mu.Unlock()
	defer s.stopped()
	defer s.countDrops()
	stop := context.AfterFunc(ctx, func() { s.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("reading the packet socket: %w", err)
	}
	ready := func(uintptr) bool { return r.ready() }
	for {
		err := rc.Read(ready)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.filter.CountReadError()
			return fmt.Errorf("reading the packet socket: %w", err)
		}
		for r.ready() {
			err := s.deliver(ctx, r.block(), out)
			r.release()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading the packet socket's ring: %w", err)
			}
		}
	}
}

// deliver sends the hits among a block's packets.
func (s *Source) deliver(ctx context.Context, block []byte, out chan<- source.Hit) error {
	fs := newFrames(block)
	for {
		b, ok := fs.next()
		if !ok {
			return fs.err
		}
		h, ok := s.parse(b)
		if !ok {
			continue
		}
		select {
		case out <- h:
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *Source) parse(b []byte) (h source.Hit, ok bool) {
	if s.ethernet {
		h, ok = s.filter.Frame(b)
	} else {
		h, ok = s.filter.IP(b)
	}
	h.Iface = s.iface
	return h, ok
}

// Close closes the socket, if Run has not. A Run under way returns.
func (s *Source) Close() error {
	s.close.Do(func() { s.closeErr = s.conn.Close() })
	s.mu.Lock()
	s.closed = true
	s.unmap()
	s.mu.Unlock()
	return s.closeErr
}

// stopped ends Run: the socket is closed and the ring unmapped.
func (s *Source) stopped() {
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	s.Close()
}

// unmap unmaps the ring once nothing reads it; s.mu is held.
func (s *Source) unmap() {
	if s.running || s.ring == nil {
		return
	}
	s.ring.unmap()
	s.ring = nil
}

// Counters implements source.Counters. Overruns are the packets the kernel
// dropped for want of room in the socket's ring.
func (s *Source) Counters() map[string]uint64 {
	s.countDrops()
	return s.filter.Counters()
}

// countDrops adds the kernel's drop count, which reading resets.
func (s *Source) countDrops() {
	rc, err := s.conn.SyscallConn()
	if err != nil {
		return
	}
	var st *unix.TpacketStatsV3
	rc.Control(func(fd uintptr) {
		st, err = unix.GetsockoptTpacketStatsV3(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if err == nil && st != nil {
		s.filter.CountOverruns(uint64(st.Drops))
	}
}
