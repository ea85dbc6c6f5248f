//go:build !linux

package lossy

import (
	"context"
	"errors"
)

// Relay joins two interfaces; only Linux has one here.
type Relay struct{}

// OpenRelay is not implemented off Linux.
func OpenRelay(a, b string, im *Impairer) (*Relay, error) {
	return nil, errors.New("lossy relay: not implemented on this system")
}

// Run does nothing.
func (*Relay) Run(context.Context) {}

// Stats are zero.
func (*Relay) Stats(int) (seen, dropped, sent uint64) { return 0, 0, 0 }

// Close does nothing.
func (*Relay) Close() error { return nil }
