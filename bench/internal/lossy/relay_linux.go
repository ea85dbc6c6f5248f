package lossy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portknock/knock/bench/internal/flood"
)

// Relay joins two interfaces through the impairer, both ways.
type Relay struct {
	im    *Impairer
	ends  [2]end
	wg    sync.WaitGroup
	stats [2]Stats
}

// Stats count one direction's frames.
type Stats struct {
	Seen, Dropped, Sent atomic.Uint64
}

type end struct {
	fd    int
	index int
	name  string
}

// OpenRelay opens packet sockets on interfaces a and b. Call it on a
// thread inside the namespace that holds them (the sockets stay there).
func OpenRelay(a, b string, im *Impairer) (*Relay, error) {
	r := &Relay{im: im}
	for i, name := range []string{a, b} {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			r.Close()
			return nil, err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("packet socket on %s: %w", name, err)
		}
		r.ends[i] = end{fd: fd, index: ifc.Index, name: name}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
			r.Close()
			return nil, fmt.Errorf("binding to %s: %w", name, err)
		}
		// Wake up now and then to notice the end of the run.
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	return r, nil
}

// Run relays frames both ways until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	for dir := 0; dir < 2; dir++ {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.pump(ctx, r.ends[dir], r.ends[1-dir], &r.stats[dir])
		}()
	}
	r.wg.Wait()
}

// Stats returns the counts of the direction from a (0) or from b (1).
func (r *Relay) Stats(dir int) (seen, dropped, sent uint64) {
	s := &r.stats[dir]
	return s.Seen.Load(), s.Dropped.Load(), s.Sent.Load()
}

func (r *Relay) pump(ctx context.Context, from, to end, st *Stats) {
	buf := make([]byte, 65536)
	dst := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: to.index}
	var pending sync.WaitGroup
	defer pending.Wait()
	for ctx.Err() == nil {
		n, sa, err := unix.Recvfrom(from.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if ll, ok := sa.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // our own writes, and what this namespace sends
		}
		st.Seen.Add(1)
		drop, delay := r.im.Decide()
		if drop {
			st.Dropped.Add(1)
			continue
		}
		frame := append([]byte(nil), buf[:n]...)
		if len(frame) > 14 && binary.BigEndian.Uint16(frame[12:]) == unix.ETH_P_IP {
			flood.Rechecksum(frame[14:])
		}
		send := func() {
			if unix.Sendto(to.fd, frame, 0, dst) == nil {
				st.Sent.Add(1)
			}
		}
		if delay == 0 {
			send()
			continue
		}
		pending.Add(1)
		time.AfterFunc(delay, func() { defer pending.Done(); send() })
	}
}

// Close closes the sockets; call it after Run returned.
func (r *Relay) Close() error {
	for _, e := range r.ends {
		if e.fd > 0 {
			unix.Close(e.fd)
		}
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
