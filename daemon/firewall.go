package daemon

import (
	"errors"
	"log/slog"

	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/command"
	"github.com/portknock/knock/firewall/iptables"
	"github.com/portknock/knock/firewall/nft"
)

// BackendOptions are what tests and the demo change.
type BackendOptions struct {
	NetNSFd     int      // nft: work in this network namespace
	IPTablesPre []string // iptables: command prefix, such as ip netns exec NAME
}

// newBackend builds the firewall fc names. Adding a backend is one case
// here and one package under firewall/.
func newBackend(fc FirewallConfig, log *slog.Logger, o BackendOptions) (firewall.Backend, error) {
	switch fc.Kind {
	case FirewallNFT:
		mode := nft.OwnTable
		if fc.NFTExisting {
			mode = nft.ExistingTable
		}
		return nft.New(nft.Config{NetNSFd: o.NetNSFd, Mode: mode, Family: fc.NFTFamily, Table: fc.NFTTable, Protected: fc.Protected})
	case FirewallIPTables:
		return iptables.New(iptables.Config{Protected: fc.Protected, Wrapper: o.IPTablesPre})
	case FirewallCommand:
		return command.New(command.Config{Start: fc.Open, Stop: fc.Close, Fields: fc.Fields, Timeout: fc.CommandTimeout, Log: log})
	}
	return nil, errors.New("no firewall backend " + string(fc.Kind))
}
