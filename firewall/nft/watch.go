package nft

import (
	"context"
	"errors"
	"time"

	"github.com/google/nftables"
)

// Watch signals, on the channel it returns, each time the backend's table
// is deleted (an "nft flush ruleset" by the host's firewall reload, a
// "delete table"), as the kernel announces it on the nftables netlink
// multicast group, until ctx ends. The caller puts the table back with
// Setup at once, instead of leaving the protected ports open until its
// next periodic check. Signals coalesce: one pending signal stands for
// any number of deletions.
func (b *Backend) Watch(ctx context.Context) <-chan struct{} {
	return WatchTable(ctx, b.cfg.NetNSFd, b.table.Family, b.table.Name)
}

// WatchTable is Watch for any table: family and name in the network
// namespace netnsFd (0: this process's). If the kernel's notifications
// overrun the monitor's socket, the monitor is made again after a
// second; a deletion missed meanwhile is left to the caller's periodic
// check.
func WatchTable(ctx context.Context, netnsFd int, family nftables.TableFamily, name string) <-chan struct{} {
	out := make(chan struct{}, 1)
	deleted := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		for ctx.Err() == nil {
			watchOnce(ctx, netnsFd, family, name, deleted)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}

// watchOnce follows the kernel's notifications until ctx ends or the
// monitor fails.
func watchOnce(ctx context.Context, netnsFd int, family nftables.TableFamily, name string, deleted func()) error {
	var opts []nftables.ConnOption
	if netnsFd != 0 {
		opts = append(opts, nftables.WithNetNSFd(netnsFd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return err
	}
	// The default monitor, every object and action: in google/nftables
	// v0.3.0 a narrower one filters out the end-of-batch message its
	// events are delivered on, so it would deliver nothing.
	mon := nftables.NewMonitor(nftables.WithMonitorEventBuffer(64))
	events, err := c.AddGenerationalMonitor(mon)
	if err != nil {
		return err
	}
	defer func() {
		mon.Close()
		for range events {
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case batch, ok := <-events:
			if !ok {
				return errors.New("the nftables monitor stopped")
			}
			for _, ev := range batch.Changes {
				if ev.Type == nftables.MonitorEventTypeOOB {
					return ev.Error
				}
				if t, ok := ev.Data.(*nftables.Table); ok && ev.Type == nftables.MonitorEventTypeDelTable && t.Name == name && t.Family == family {
					deleted()
				}
			}
		}
	}
}
