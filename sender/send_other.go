//go:build !unix

package sender

import (
	"errors"
	"net/netip"
)

// Socket sends knocks to one address; here, an honest stub.
type Socket struct {
	Logf func(format string, args ...any) // unused here
}

// New returns a Socket that cannot send on this system.
func New(netip.Addr) *Socket { return &Socket{} }

// Close implements io.Closer.
func (*Socket) Close() error { return nil }

// Send reports that sending knocks is implemented on unix systems only.
func (*Socket) Send(Packet) error {
	return errors.New("sending knocks is implemented on unix systems only")
}
