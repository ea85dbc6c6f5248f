package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/portknock/knock"
	"github.com/portknock/knock/engine"
	"github.com/portknock/knock/knockd"
	"github.com/portknock/knock/settings"
)

// knockdProtocol reads knockdconf, an unmodified knockd.conf, into the
// protocol serving its doors; nil when the setting is empty. Each door's
// Grant ports must be protected, and no door may knock on one.
func knockdProtocol(set *settings.Set, prot []knock.Port) (*knockd.Protocol, error) {
	path := set.Path("knockdconf")
	if path == "" {
		return nil, nil
	}
	c, err := knockd.Parse(path)
	if err != nil {
		return nil, set.Errorf("knockdconf", "%w", err)
	}
	for _, d := range c.Doors {
		for _, g := range d.Grants {
			p := knock.Port{Proto: knock.TCP, Port: g.Port}
			if g.Proto == knockd.UDP {
				p.Proto = knock.UDP
			}
			if !containsExact(prot, p) {
				return nil, set.Errorf("knockdconf", "%s: door %q grants %s, which is not a protected port: add it to protected", d.Pos, d.Name, p)
			}
		}
	}
	// Per source, as knockd means to: knockd 0.8's wipe lets any address
	// break every knock in flight (docs/knockd.md).
	p, err := knockd.NewProtocol(c, knockd.MatcherConfig{})
	if err != nil {
		return nil, set.Errorf("knockdconf", "%w", err)
	}
	for _, pt := range p.Ports() {
		if containsExact(prot, pt) {
			return nil, set.Errorf("knockdconf", "a door knocks on the protected port %s: keep the doors apart from the services they guard", pt)
		}
	}
	return p, nil
}

func containsExact(ps []knock.Port, p knock.Port) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// knockdOf returns ec's knockd protocol, nil if none.
func knockdOf(ec engine.Config) *knockd.Protocol {
	for _, p := range ec.Protocols {
		if k, ok := p.(*knockd.Protocol); ok {
			return k
		}
	}
	return nil
}

// knockdSource adds the doors' ports to what the source watches, and
// knockd's Interface, which restricts the capture as it does knockd's.
func knockdSource(set *settings.Set, ec engine.Config, sc *SourceConfig) error {
	k := knockdOf(ec)
	if k == nil {
		return nil
	}
	for _, p := range k.Ports() {
		if p.Proto == knock.TCP {
			sc.AnyFlags = append(sc.AnyFlags, p.Port)
		} else {
			sc.DoorUDP = append(sc.DoorUDP, p.Port)
		}
	}
	if i := k.Interface(); i != "" {
		if sc.Interface != "" && sc.Interface != i {
			return set.Errorf("interface", "is %q, but knockdconf's Interface is %q: knockdaemon listens on one interface", sc.Interface, i)
		}
		sc.Interface = i
	}
	return nil
}

// knockdWarnings: the sequences are secrets, yet Debian installs the file
// world-readable; it is read as it is, with a warning.
func knockdWarnings(ec engine.Config) []string {
	k := knockdOf(ec)
	if k == nil || k.Config.Mode&0o004 == 0 {
		return nil
	}
	return []string{fmt.Sprintf("%s is readable by every user (mode %04o), and its sequences are the doors' secrets: chmod 0600 it", k.Config.Path, k.Config.Mode.Perm())}
}

// knockdStops is where the knockd runner keeps its pending stop commands:
// beside the replay cache.
func knockdStops(c *Config) string {
	return filepath.Join(filepath.Dir(c.Replay.File), "knockd-stops.json")
}

// startKnockd reports the stop commands a previous run lost and gives
// the knockd doors their command runner; nil when there is no knockd
// protocol, or in -test (commands are never run then).
func startKnockd(c *Config, log *slog.Logger) (*knockd.Runner, error) {
	k := knockdOf(c.Engine)
	if k == nil || c.Test {
		return nil, nil
	}
	k.Log = log
	path := knockdStops(c)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("knockd's pending stop commands: %w", err)
	}
	lost, err := knockd.LostStops(path)
	if err != nil {
		log.Error("reading knockd's pending stop commands", "err", err)
	}
	for _, s := range lost {
		log.Warn("a knockd stop command was never run: the daemon stopped before it was due", "door", s.Door, "src", s.Source, "command", s.Command, "due", s.Due)
	}
	r, err := knockd.NewRunner(knockd.RunnerConfig{StateFile: path, Log: func(f string, a ...any) { log.Info("knockd: " + fmt.Sprintf(f, a...)) }})
	if err != nil {
		return nil, fmt.Errorf("knockd's command runner: %w", err)
	}
	k.Runner = r
	return r, nil
}
