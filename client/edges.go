package client

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/portknock/knock/sender"
)

// Errors that decide knockclient's exit status; every other error is a
// usage or configuration error.
var (
	// ErrSend: the knock could not be delivered (resolving remote, a
	// socket, the log file).
	ErrSend = errors.New("sending failed")
	// ErrClosed: -verify found the port still closed after every retry.
	ErrClosed = errors.New("port still closed")
	// ErrUndecodable: a -decode sequence is no valid knock of the
	// configuration.
	ErrUndecodable = errors.New("sequence does not decode")
)

// Packet is one knock (package sender puts it on the wire).
type Packet = sender.Packet

// Sender delivers knocks one at a time, in the order given.
type Sender interface {
	Send(p Packet) error
	Close() error
}

// Clock is the time of THIS* fields and sealed timestamps, and the pauses
// between knocks and between retries.
type Clock interface {
	Now() time.Time
	// Sleep pauses for d, or until ctx ends (returning its error).
	Sleep(ctx context.Context, d time.Duration) error
}

// Network is the client's view of the network.
type Network interface {
	// Resolve turns remote (an address or a host name) into one address.
	Resolve(ctx context.Context, host string) (netip.Addr, error)
	// LocalAddr is the address the kernel would send from toward remote,
	// found without sending anything.
	LocalAddr(remote netip.Addr) (netip.Addr, error)
	// Sender sends knocks to remote.
	Sender(remote netip.Addr) (Sender, error)
	// Probe reports whether a TCP connection to ap is accepted. A refused
	// or unanswered connection is closed (false, nil); an error is a
	// network failure.
	Probe(ctx context.Context, ap netip.AddrPort) (bool, error)
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep implements Clock.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
