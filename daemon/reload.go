package daemon

import (
	"context"
	"fmt"

	"github.com/portknock/knock/settings"
	"github.com/portknock/knock/source"
)

// Reload applies new settings to a running daemon, as SIGHUP does. Every
// new part is built and checked first; on any error nothing changes and
// the daemon goes on with what it had. Granted access is never dropped:
// grants live in the kernel (nftables, iptables) or in the command
// backend, which a reload keeps.
func (d *Daemon) Reload(ctx context.Context, set *settings.Set) error {
	r := reloadReq{set: set, done: make(chan error, 1)}
	select {
	case d.reloads <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.done
}

type reloadReq struct {
	set  *settings.Set
	done chan error
}

// restartOnly compares what a reload cannot change, and names it.
func restartOnly(a, b *Config) []string {
	var out []string
	if a.Replay != b.Replay {
		out = append(out, "replay, replayfile")
	}
	if changed(a.Trackers, b.Trackers) {
		out = append(out, "maxsources, maxactive, knocktimeout")
	}
	if a.Metrics != b.Metrics {
		out = append(out, "metrics")
	}
	if a.Control != b.Control {
		out = append(out, "controlsocket")
	}
	if changed(a.Fleet, b.Fleet) {
		out = append(out, "fleet settings")
	}
	if a.Log.Format != b.Log.Format || a.Log.To != b.Log.To {
		out = append(out, "logformat, logto")
	}
	if a.Test != b.Test {
		out = append(out, "test")
	}
	if a.Firewall.Kind != b.Firewall.Kind && (a.Firewall.Kind == FirewallCommand || b.Firewall.Kind == FirewallCommand) {
		out = append(out, "firewall (to or from command: pending stop commands belong to the running backend)")
	}
	if a.Firewall.Kind == FirewallCommand && b.Firewall.Kind == FirewallCommand &&
		(a.Firewall.Open != b.Firewall.Open || a.Firewall.Close != b.Firewall.Close || a.Firewall.CommandTimeout != b.Firewall.CommandTimeout) {
		out = append(out, "opencommand, closecommand, commandtimeout (pending stop commands belong to the running backend)")
	}
	return out
}

func (d *Daemon) reload(ctx context.Context, set *settings.Set, hits chan<- source.Hit, errc chan<- error) error {
	cfg, err := Load(set)
	if err != nil {
		return err
	}
	if ks := restartOnly(d.cfg, cfg); len(ks) > 0 {
		return fmt.Errorf("changing %v needs a restart; nothing was reloaded", ks)
	}
	fw := d.fw
	// The command backend keeps its pending stop commands: it is never
	// replaced by a reload (the engine checks the protected ports). The
	// kernel's backends are rebuilt when what they install changed.
	if d.opts.Firewall == nil && cfg.Firewall.Kind != FirewallCommand && changed(d.cfg.Firewall, cfg.Firewall) {
		if fw, err = newBackend(cfg.Firewall, d.log, d.opts.Backend); err != nil {
			return err
		}
	}
	var src source.Source
	if changed(d.cfg.Source, cfg.Source) {
		if src, err = newSource(cfg.Source, d.log, d.opts.Now, d.opts.Source); err != nil {
			return err
		}
	}
	// Everything is built: apply.
	if fw != d.fw && !cfg.Test {
		if err := fw.Setup(ctx); err != nil {
			return fmt.Errorf("installing the new firewall settings: %w", err)
		}
	}
	cfg.Engine.NotBefore = d.cfg.Engine.NotBefore
	if k := knockdOf(cfg.Engine); k != nil && d.knockd != nil {
		k.Runner, k.Log = d.knockd, d.log
	} else if k != nil {
		// knockdconf is new: the doors get a runner now, kept until stop.
		if d.knockd, err = startKnockd(cfg, d.log); err != nil {
			return err
		}
	}
	if err := d.engine.Reload(ctx, cfg.Engine); err != nil {
		return err
	}
	d.engine.SetFirewall(fw)
	var gone []string
	for name, disabled := range d.cfg.Users {
		if nowDisabled, still := cfg.Users[name]; (!still || nowDisabled) && !disabled {
			gone = append(gone, name)
		}
	}
	d.mu.Lock()
	d.fw = fw
	d.mu.Unlock()
	d.cfg, d.set = cfg, set
	if src != nil {
		d.mu.Lock()
		d.srcStop()
		done := d.srcDone
		d.src = src
		d.mu.Unlock()
		// The old source must be gone first: an NFLOG group has one
		// listener, and the old rule's removal would take the new one's
		// table (they share its name).
		<-done
		d.startSource(ctx, hits, errc)
	}
	d.log.Info("configuration reloaded", "knock", describe(cfg.Engine))
	d.revokeUsers(ctx, gone)
	return nil
}
