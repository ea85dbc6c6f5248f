package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
	"github.com/portknock/knock"
)

// Timeouts of the probe element: long enough that the first cannot run
// out before the second add, short enough that a probe left behind by a
// crash goes soon.
const (
	probeFirst  = 10 * time.Second
	probeSecond = 20 * time.Second
)

// probeRefresh finds out whether adding an element that exists refreshes
// its timeout. It adds a probe element twice, reads back the time it has
// left, and removes it. The probe is the unspecified address to port 0,
// which no packet comes from or goes to, so it opens nothing meanwhile.
func (b *Backend) probeRefresh(c *nftables.Conn) (bool, error) {
	set := b.allowedSets()[0]
	addr := netip.IPv4Unspecified()
	if set == b.set6 {
		addr = netip.IPv6Unspecified()
	}
	key := allowedKey(addr, knock.Port{Proto: "tcp", Port: 0})
	for _, d := range []time.Duration{probeFirst, probeSecond} {
		if err := c.SetAddElements(set, []nftables.SetElement{{Key: key, Timeout: d}}); err != nil {
			return false, err
		}
		if err := c.Flush(); err != nil {
			return false, fmt.Errorf("adding the probe element: %w", err)
		}
	}
	els, err := c.GetSetElements(set)
	if err != nil {
		return false, fmt.Errorf("listing set %s: %w", set.Name, err)
	}
	refreshed := false
	for _, el := range els {
		if string(el.Key) == string(key) {
			refreshed = el.Expires > probeFirst
		}
	}
	gone := []nftables.SetElement{{Key: key, Timeout: time.Second}}
	if err := errors.Join(c.SetAddElements(set, gone), c.SetDeleteElements(set, gone), c.Flush()); err != nil {
		return false, fmt.Errorf("removing the probe element: %w", err)
	}
	return refreshed, nil
}
