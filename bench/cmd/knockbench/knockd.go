package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/portknock/knock/bench/internal/scrape"
)

// knockdSequence is knockd's static knock: three ports inside our span,
// so that the flood to the span reaches knockd exactly as it reaches us.
var knockdSequence = []uint16{40123, 40045, 40210}

// knockdDaemon is knockd 0.8 as Debian ships it, with its settings left
// at their defaults except the door: the sequence, TCP SYN only, and a
// firewall command that inserts an iptables rule for the knocker (and
// deletes it cmd_timeout seconds later). The harness appends the rule
// that drops the port otherwise.
func knockdDaemon(h *harness) *daemon {
	d := &daemon{id: "knockd", label: "knockd 0.8 (iptables command)"}
	logPath := filepath.Join(h.work, "knockd.events")
	conf := knockdConf(h, logPath, portKnockd)
	d.launch = func() (*process, error) {
		os.Remove(logPath)
		path := filepath.Join(h.work, "knockd.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			return nil, err
		}
		if err := h.dropPort(portKnockd); err != nil {
			return nil, err
		}
		return startProcess(h.topo.host, "knockd", filepath.Join(h.work, "knockd.log"), "knockd", "-c", path, "-i", "eth0")
	}
	d.grants = func() ([]netip.Addr, error) {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return nil, err
		}
		return scrape.KnockdOpened(b), nil
	}
	d.lanes = []*lane{{id: "knockd", label: "knockd 0.8, 3-port sequence (iptables command)", d: d, port: portKnockd,
		build: func(src netip.Addr) ([][]byte, error) { return synSequence(src, knockdSequence) }}}
	return d
}

// knockdConf is the knockd.conf both knockd and knockdaemon read: the
// door's commands open port.
func knockdConf(h *harness, logPath string, port uint16) string {
	seq := make([]string, len(knockdSequence))
	for i, p := range knockdSequence {
		seq[i] = fmt.Sprint(p)
	}
	rule := fmt.Sprintf("INPUT -s %%IP%% -p tcp --dport %d -j ACCEPT", port)
	return fmt.Sprintf(`[options]
	LogFile   = %s
	PidFile   = %s
	Interface = eth0

[bench]
	sequence      = %s
	tcpflags      = syn
	start_command = /usr/sbin/iptables -I %s
	cmd_timeout   = 600
	stop_command  = /usr/sbin/iptables -D %s
`, logPath, filepath.Join(h.work, "knockd.pid"), strings.Join(seq, ","), rule, rule)
}

// oursKnockdDaemon is knockdaemon serving knockd's door from the same
// knockd.conf, side by side with knockd on the same packets (a packet
// socket on eth0, as knockd's pcap). The file differs from knockd's in
// one word: the port its commands open (portOursKnockd), so that each
// daemon's grants are its own. Attempts are followed per source
// (knockdaemon's default, not knockd 0.8's wipe).
func oursKnockdDaemon(h *harness) *daemon {
	d := &daemon{id: "ours-knockd", label: "knockdaemon reading knockd.conf (iptables command)"}
	metricsAddr := "127.0.0.1:9479"
	d.launch = func() (*process, error) {
		kconf := filepath.Join(h.work, "ours-knockd.knockd.conf")
		if err := os.WriteFile(kconf, []byte(knockdConf(h, filepath.Join(h.work, "ours-knockd.events"), portOursKnockd)), 0o600); err != nil {
			return nil, err
		}
		conf := filepath.Join(h.work, "ours-knockd.conf")
		settings := fmt.Sprintf(`# written by knockbench
mode       = none
knockdconf = %s
protected  = tcp/%d
firewall   = nft
nfttable   = "inet portknock_kd"
replayfile = %s
metrics    = %s
runmode    = network
capture    = afpacket
interface  = eth0
`, kconf, portOursGuard, filepath.Join(h.work, "ours-knockd.state", "replay"), metricsAddr)
		if err := os.WriteFile(conf, []byte(settings), 0o600); err != nil {
			return nil, err
		}
		if err := h.dropPort(portOursKnockd); err != nil {
			return nil, err
		}
		return startProcess(h.topo.host, "ours-knockd", filepath.Join(h.work, "ours-knockd.log"), h.bin.daemon, "-conf", conf)
	}
	d.grants = func() ([]netip.Addr, error) { return h.iptablesGrants("INPUT", portOursKnockd) }
	d.metrics = (&ours{h: h, cfg: oursConfig{label: d.label, metricsAddr: metricsAddr}}).scrape
	d.lanes = []*lane{{id: "ours-knockd", label: "knockdaemon, knockd's 3-port sequence (iptables command)", d: d, port: portOursKnockd,
		build: func(src netip.Addr) ([][]byte, error) { return synSequence(src, knockdSequence) }}}
	return d
}

// dropPort makes sure iptables drops a protected port of knockd or
// fwknopd unless one of their rules, inserted before, accepts it.
func (h *harness) dropPort(port uint16) error {
	rule := []string{"INPUT", "-p", "tcp", "--dport", fmt.Sprint(port), "-j", "DROP"}
	if _, err := h.topo.host.Run(append([]string{"iptables", "-C"}, rule...)...); err == nil {
		return nil
	}
	_, err := h.topo.host.Run(append([]string{"iptables", "-A"}, rule...)...)
	return err
}

// iptablesGrants lists the sources accepted for port in a chain.
func (h *harness) iptablesGrants(chain string, port uint16) ([]netip.Addr, error) {
	out, err := h.topo.host.Run("iptables", "-S", chain)
	if err != nil {
		return nil, err
	}
	return scrape.IptablesAccepts([]byte(out), port), nil
}
