package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/portknock/knock/engine"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/command"
	"github.com/portknock/knock/firewall/iptables"
	"github.com/portknock/knock/firewall/nft"
	"github.com/portknock/knock/settings"
)

// Backend is a firewall the service installs, reconfigures and lets go of.
type Backend interface {
	firewall.Backend
	// Setup installs or repairs what the backend needs, keeping grants.
	Setup(ctx context.Context) error
	// Stop is called when the daemon stops. Backends that end grants
	// in the kernel leave everything in place (failing closed); the
	// command backend runs its pending stop commands.
	Stop(ctx context.Context) error
	// Uninstall removes what Setup installed.
	Uninstall(ctx context.Context) error
	// Describe tells the operator what is installed.
	Describe() string
}

// BackendOptions are what tests and the demo change.
type BackendOptions struct {
	NetNSFd     int      // nft: work in this network namespace
	IPTablesPre []string // iptables: command prefix, such as ip netns exec NAME
}

func newBackend(set *settings.Set, prot []engine.Port, fields []string, log *slog.Logger, o BackendOptions) (Backend, error) {
	switch kind := strings.ToLower(set.String("firewall")); kind {
	case "nft", "nftables":
		return newNFT(set, prot, o)
	case "iptables":
		ports := make([]iptables.Port, len(prot))
		for i, p := range prot {
			ports[i] = iptables.Port{Proto: p.Proto, Port: p.Port}
		}
		b, err := iptables.New(iptables.Config{Protected: ports, Wrapper: o.IPTablesPre})
		if err != nil {
			return nil, set.Errorf("firewall", "%v", err)
		}
		return iptBackend{b}, nil
	case "command":
		b, err := command.New(command.Config{
			Start: set.String("opencommand"), Stop: set.String("closecommand"),
			Fields: fields, Timeout: set.Duration("commandtimeout"), Log: log,
		})
		if err != nil {
			name := "opencommand"
			if ce, ok := errors.AsType[*command.ConfigError](err); ok && ce.Template == "stop" {
				name = "closecommand"
			}
			return nil, set.Errorf(name, "%v", err)
		}
		return cmdBackend{b, set.String("opencommand"), set.String("closecommand")}, nil
	default:
		return nil, set.Errorf("firewall", "expected nft, iptables or command")
	}
}

func newNFT(set *settings.Set, prot []engine.Port, o BackendOptions) (Backend, error) {
	cfg := nft.Config{NetNSFd: o.NetNSFd}
	switch m := strings.ToLower(set.String("nftmode")); m {
	case "own", "own-table":
		cfg.Mode = nft.OwnTable
	case "existing", "existing-table":
		cfg.Mode = nft.ExistingTable
	default:
		return nil, set.Errorf("nftmode", "expected own or existing")
	}
	fam, table, ok := strings.Cut(set.String("nfttable"), " ")
	if !ok {
		fam, table = "inet", fam
	}
	cfg.Family, cfg.Table = fam, strings.TrimSpace(table)
	if cfg.Mode == nft.OwnTable && set.IsSet("nfttable") && cfg.Family != "inet" {
		return nil, set.Errorf("nfttable", "the daemon's own table is always inet")
	}
	for _, p := range prot {
		cfg.Protected = append(cfg.Protected, nft.Port{Proto: p.Proto, Port: p.Port})
	}
	b, err := nft.New(cfg)
	if err != nil {
		return nil, set.Errorf("nfttable", "%v", err)
	}
	return nftBackend{b}, nil
}

type nftBackend struct{ *nft.Backend }

func (nftBackend) Stop(context.Context) error { return nil }
func (b nftBackend) Describe() string {
	s := b.Ruleset()
	if rules := b.AdminRules(); b.Config().Mode == nft.ExistingTable {
		s += "\n# Your input chain must accept what these sets grant, before it drops:\n#   " + strings.Join(rules, "\n#   ") + "\n"
	}
	return s
}

type iptBackend struct{ *iptables.Backend }

func (iptBackend) Stop(context.Context) error { return nil }
func (b iptBackend) Describe() string {
	return "iptables chain " + iptables.DefaultChain + " jumped to from INPUT"
}

type cmdBackend struct {
	*command.Backend
	open, close string
}

func (cmdBackend) Setup(context.Context) error      { return nil }
func (b cmdBackend) Stop(ctx context.Context) error { return b.Shutdown(ctx) }
func (cmdBackend) Uninstall(context.Context) error  { return nil }
func (b cmdBackend) Describe() string {
	return fmt.Sprintf("commands: open %q, close %q", b.open, b.close)
}
