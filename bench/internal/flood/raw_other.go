//go:build !linux

package flood

import (
	"errors"
	"net/netip"
)

// Raw is a raw IPv4 socket; only Linux has one here.
type Raw struct{}

// OpenRaw is not implemented off Linux.
func OpenRaw(netip.Addr) (*Raw, error) {
	return nil, errors.New("raw sockets: not implemented on this system")
}

// Close does nothing.
func (*Raw) Close() error { return nil }

// WriteBatch is not implemented off Linux.
func (*Raw) WriteBatch([][]byte) (int, error) { return 0, errFatal }

// Send is not implemented off Linux.
func (*Raw) Send([]byte) error { return errFatal }
