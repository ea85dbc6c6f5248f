package main

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// result is one legitimate knock: whether the port opened in time, and
// how long after the knock's last packet left.
type result struct {
	Lane    string        `json:"lane"`
	Src     string        `json:"src"`
	Opened  bool          `json:"opened"`
	Latency time.Duration `json:"latency_ns,omitempty"`
	Err     string        `json:"err,omitempty"`
	// Unguarded: the port was open before the knock (errUnguarded).
	Unguarded bool `json:"unguarded,omitempty"`
}

// Probe pacing: a fresh connection attempt every probePeriod, each
// abandoned after probeMaxAge (a dropped SYN is retransmitted only after
// a second, far too late to measure anything).
const (
	probePeriod = 250 * time.Microsecond
	probeMaxAge = 200 * time.Millisecond
	// preCheck is how long the port must stay shut to the knock's
	// address before the knock is sent: without that check, a daemon
	// whose guard is not in place yet would look as if it had opened.
	preCheck = 3 * time.Millisecond
)

// errUnguarded is an attempt whose port was open before the knock.
var errUnguarded = errors.New("the port was open before the knock: no guard in place")

// attempt knocks on lane l from a fresh address and tries to connect to
// its port until within has passed since the knock's last packet.
// Sending and connecting happen on one thread inside the client
// namespace, timed with the monotonic clock.
func (h *harness) attempt(l *lane, within time.Duration) result {
	src := h.topo.addr()
	r := result{Lane: l.id, Src: src.String()}
	pkts, err := l.build(src)
	if err != nil {
		r.Err = "building the knock: " + err.Error()
		return r
	}
	err = h.topo.client.Do(func() error {
		if _, open, err := probe(src, l.target(), time.Now(), preCheck, probePeriod); err != nil || open {
			return cmp.Or(err, errUnguarded)
		}
		for i, p := range pkts {
			if i > 0 && h.opt.gap > 0 {
				time.Sleep(h.opt.gap)
			}
			if err := h.knocker.Send(p); err != nil {
				return fmt.Errorf("sending knock packet %d: %w", i+1, err)
			}
		}
		t0 := time.Now()
		lat, ok, err := probe(src, l.target(), t0, within, probePeriod)
		r.Opened, r.Latency = ok, lat
		return err
	})
	if err != nil {
		r.Err = err.Error()
		r.Unguarded = errors.Is(err, errUnguarded)
	}
	return r
}

// probe connects from src to dst, a new non-blocking attempt every
// period, until one is established (reporting the time since t0) or
// within has passed since t0. Call it on a thread inside the client
// namespace.
func probe(src netip.Addr, dst netip.AddrPort, t0 time.Time, within, period time.Duration) (time.Duration, bool, error) {
	type pending struct {
		fd   int
		born time.Time
	}
	var ps []pending
	defer func() {
		for _, p := range ps {
			unix.Close(p.fd)
		}
	}()
	local := &unix.SockaddrInet4{Addr: src.As4()}
	remote := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	ts := unix.NsecToTimespec(int64(period))
	var fds []unix.PollFd
	for {
		now := time.Now()
		if now.Sub(t0) > within {
			return 0, false, nil
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, false, fmt.Errorf("probe socket: %w", err)
		}
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		if err := unix.Bind(fd, local); err != nil {
			unix.Close(fd)
			return 0, false, fmt.Errorf("probe bind %s: %w", src, err)
		}
		switch err := unix.Connect(fd, remote); {
		case err == nil:
			unix.Close(fd)
			return time.Since(t0), true, nil
		case errors.Is(err, unix.EINPROGRESS):
			ps = append(ps, pending{fd, now})
		default:
			unix.Close(fd)
		}
		// Forget attempts whose SYN was dropped long ago.
		kept := ps[:0]
		for _, p := range ps {
			if now.Sub(p.born) > probeMaxAge {
				unix.Close(p.fd)
				continue
			}
			kept = append(kept, p)
		}
		ps = kept
		fds = fds[:0]
		for _, p := range ps {
			fds = append(fds, unix.PollFd{Fd: int32(p.fd), Events: unix.POLLOUT})
		}
		if _, err := unix.Ppoll(fds, &ts, nil); err != nil && !errors.Is(err, unix.EINTR) {
			return 0, false, fmt.Errorf("probe poll: %w", err)
		}
		for i, f := range fds {
			if f.Revents == 0 {
				continue
			}
			if soerr, _ := unix.GetsockoptInt(int(f.Fd), unix.SOL_SOCKET, unix.SO_ERROR); soerr == 0 && f.Revents&unix.POLLOUT != 0 {
				return time.Since(t0), true, nil
			}
			unix.Close(ps[i].fd)
			ps[i].fd = -1
		}
		kept = ps[:0]
		for _, p := range ps {
			if p.fd >= 0 {
				kept = append(kept, p)
			}
		}
		ps = kept
	}
}
