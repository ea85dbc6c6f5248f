//go:build !unix

package client

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// ProbeTimeouts are the -verify connection attempts.
var ProbeTimeouts = []time.Duration{300 * time.Millisecond, 700 * time.Millisecond}

var errNotImplemented = errors.New("sending knocks is implemented on unix systems only")

// System is the real network; here, an honest stub.
type System struct{}

// Resolve implements Network.
func (System) Resolve(context.Context, string) (netip.Addr, error) {
	return netip.Addr{}, errNotImplemented
}

// LocalAddr implements Network.
func (System) LocalAddr(netip.Addr) (netip.Addr, error) { return netip.Addr{}, errNotImplemented }

// Sender implements Network.
func (System) Sender(netip.Addr) (Sender, error) { return nil, errNotImplemented }

// Probe implements Network.
func (System) Probe(context.Context, netip.AddrPort) (bool, error) { return false, errNotImplemented }
