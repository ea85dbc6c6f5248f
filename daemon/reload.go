package daemon

import (
	"context"
	"fmt"
	"slices"

	"github.com/portknock/knock/settings"
	"github.com/portknock/knock/source"
)

// Settings that say where knocks come from, and how the firewall is
// reached: a reload rebuilds those parts only when one of them changed.
var (
	sourceKeys   = []string{"runmode", "logfile", "pattern", "fileformat", "fromstart", "capture", "interface", "nfloggroup", "portspan", "spaport", "mode"}
	firewallKeys = []string{"firewall", "nftmode", "nfttable", "protected"}
	commandKeys  = []string{"opencommand", "closecommand", "commandtimeout"}
	restartKeys  = []string{"replay", "replayfile", "maxsources", "maxactive", "knocktimeout", "metrics", "logformat", "logto"}
)

func changed(a, b *settings.Set, keys []string) []string {
	var out []string
	for _, k := range keys {
		va, vb := a.Get(k), b.Get(k)
		if va.Text != vb.Text || !slices.Equal(va.Values, vb.Values) {
			out = append(out, k)
		}
	}
	return out
}

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

func (d *Daemon) reload(ctx context.Context, set *settings.Set, hits chan<- source.Hit, errc chan<- error) error {
	if ks := changed(d.set, set, restartKeys); len(ks) > 0 {
		return fmt.Errorf("changing %v needs a restart; nothing was reloaded", ks)
	}
	if ks := changed(d.set, set, commandKeys); len(ks) > 0 && set.String("firewall") == "command" {
		return fmt.Errorf("changing %v needs a restart (pending stop commands belong to the running backend); nothing was reloaded", ks)
	}
	cfg, span, err := engineConfig(set)
	if err != nil {
		return err
	}
	fw := d.fw
	wasCommand, isCommand := d.set.String("firewall") == "command", set.String("firewall") == "command"
	if wasCommand != isCommand {
		return fmt.Errorf("switching to or from the command firewall needs a restart; nothing was reloaded")
	}
	// The command backend does not know the protected ports (the engine
	// checks them), so only the other backends are rebuilt.
	if !isCommand && len(changed(d.set, set, firewallKeys)) > 0 {
		if fw, err = newBackend(set, cfg.Protected, fieldNames(cfg), d.log, d.opts.Backend); err != nil {
			return err
		}
	}
	var src source.Source
	if len(changed(d.set, set, sourceKeys)) > 0 {
		var extra []uint16
		if s, ok := cfg.Decoder.(interface{ SPAPort() uint16 }); ok && s.SPAPort() != 0 && !span.Contains(s.SPAPort()) {
			extra = []uint16{s.SPAPort()}
		}
		src, err = newSource(set, span, extra, d.log, d.opts.Now, d.opts.Source)
		if err != nil {
			return err
		}
	}
	// Everything is built: apply.
	if fw != d.fw && !cfg.DryRun {
		if err := fw.Setup(ctx); err != nil {
			return fmt.Errorf("installing the new firewall settings: %w", err)
		}
	}
	if err := d.engine.Reload(ctx, cfg); err != nil {
		return err
	}
	d.engine.SetFirewall(fw)
	d.fw, d.cfg, d.span, d.set = fw, cfg, span, set
	if src != nil {
		d.mu.Lock()
		d.srcStop()
		d.src = src
		d.mu.Unlock()
		d.startSource(ctx, hits, errc)
	}
	d.log.Info("configuration reloaded", "knock", describe(cfg, span))
	return nil
}
