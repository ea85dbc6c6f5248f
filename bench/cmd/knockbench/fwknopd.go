package main

import (
	crand "crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/portknock/knock/bench/internal/flood"
)

// fwknopConfig is one fwknopd: pcap capture (the default), or UDP server
// mode, where the SPA packet goes to a socket instead of a capture.
type fwknopConfig struct {
	id, label string
	udp       bool
	spaPort   uint16
	port      uint16 // protected
	chain     string // fwknopd's own iptables chain
}

var (
	fwknopPcap = fwknopConfig{id: "fwknopd-pcap", label: "fwknopd 2.6.10 (pcap)", spaPort: fwknopSPA, port: portFwknop, chain: "FWKNOP_INPUT"}
	fwknopUDPS = fwknopConfig{id: "fwknopd-udp", label: "fwknopd 2.6.10 (UDP server)", udp: true, spaPort: fwknopUDP, port: portFwknopUDP, chain: "FWKNOP_UDP_INPUT"}
)

// fwknopKeys are the Rijndael and HMAC keys both ends share.
type fwknopKeys struct{ enc, hmac string }

func newFwknopKeys() fwknopKeys {
	k := make([]byte, 32+64)
	crand.Read(k)
	return fwknopKeys{base64.StdEncoding.EncodeToString(k[:32]), base64.StdEncoding.EncodeToString(k[32:])}
}

// fwknopDaemon is fwknopd 2.6.10 as Debian ships it, its settings left at
// their defaults apart from where it keeps its files, its interface, port
// and chain, and the access stanza: one key pair, the protected port,
// and the source address of the SPA packet required to be the address
// it asks for (as our daemon's checkclient).
func fwknopDaemon(h *harness, cfg fwknopConfig, keys fwknopKeys) *daemon {
	d := &daemon{id: cfg.id, label: cfg.label}
	dir := filepath.Join(h.work, cfg.id)
	server := fmt.Sprintf(`PCAP_INTF eth0;
PCAP_FILTER udp port %d;
FWKNOP_RUN_DIR %s;
IPT_INPUT_ACCESS ACCEPT, filter, INPUT, 1, %s, 1;
`, cfg.spaPort, dir, cfg.chain)
	if cfg.udp {
		server += fmt.Sprintf("ENABLE_UDP_SERVER Y;\nUDPSERV_PORT %d;\n", cfg.spaPort)
	}
	access := fwknopAccess(cfg.port, keys)
	d.launch = func() (*process, error) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		for name, text := range map[string]string{"fwknopd.conf": server, "access.conf": access} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
				return nil, err
			}
		}
		if err := h.dropPort(cfg.port); err != nil {
			return nil, err
		}
		args := []string{"-f", "-c", filepath.Join(dir, "fwknopd.conf"), "-a", filepath.Join(dir, "access.conf"),
			"-i", "eth0", "-p", filepath.Join(dir, "fwknopd.pid"), "-d", filepath.Join(dir, "digest.cache")}
		if cfg.udp {
			args = append(args, "-U")
		}
		return startProcess(h.topo.host, cfg.id, filepath.Join(h.work, cfg.id+".log"), "fwknopd", args...)
	}
	d.grants = func() ([]netip.Addr, error) { return h.iptablesGrants(cfg.chain, cfg.port) }
	d.lanes = []*lane{{id: cfg.id, label: cfg.label, d: d, port: cfg.port,
		build: func(src netip.Addr) ([][]byte, error) { return fwknopKnock(h, cfg, keys, src) }}}
	return d
}

// fwknopAccess is the access stanza: one key pair, the protected port,
// and the source address of the SPA packet required to be the address
// it asks for (as our daemon's checkclient). knockdaemon reads the same
// text, with its own port.
func fwknopAccess(port uint16, keys fwknopKeys) string {
	return fmt.Sprintf(`SOURCE ANY
OPEN_PORTS tcp/%d
KEY_BASE64 %s
HMAC_KEY_BASE64 %s
REQUIRE_SOURCE_ADDRESS Y
FW_ACCESS_TIMEOUT 600
`, port, keys.enc, keys.hmac)
}

// fwknopArgs are the client's arguments for an SPA packet asking to open
// cfg.port to src.
func fwknopArgs(cfg fwknopConfig, keys fwknopKeys, src, dst netip.Addr) []string {
	return []string{"--no-rc-file", "--no-save-args", "-A", fmt.Sprintf("tcp/%d", cfg.port), "-a", src.String(), "-D", dst.String(),
		"-p", fmt.Sprint(cfg.spaPort), "--use-hmac", "--key-base64-rijndael", keys.enc, "--key-base64-hmac", keys.hmac}
}

// fwknopKnock has the fwknop client build an SPA packet (test mode: it
// sends nothing, and runs inside the client namespace all the same) and
// wraps its data in a UDP datagram from src.
func fwknopKnock(h *harness, cfg fwknopConfig, keys fwknopKeys, src netip.Addr) ([][]byte, error) {
	f, err := os.CreateTemp(h.work, "spa-*")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	args := append(fwknopArgs(cfg, keys, src, hostIP), "-T", "-B", path)
	cmd := h.topo.client.Command("fwknop", args...)
	cmd.Env = []string{"HOME=" + h.work, "PATH=/usr/bin:/bin:/usr/sbin:/sbin"} // never root's own ~/.fwknoprc
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("fwknop: %w: %s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	payload := []byte(strings.TrimSpace(string(data)))
	if len(payload) == 0 {
		return nil, fmt.Errorf("fwknop wrote an empty SPA packet")
	}
	pkt, err := flood.AppendUDP(nil, flood.Header{Src: src, Dst: hostIP, SrcPort: ephemeral(), DstPort: cfg.spaPort, ID: uint16(mrand.Uint32())}, payload)
	return [][]byte{pkt}, err
}
