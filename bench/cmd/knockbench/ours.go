package main

import (
	"bufio"
	crand "crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/portknock/knock/bench/internal/flood"
	"github.com/portknock/knock/bench/internal/scrape"
	"github.com/portknock/knock/client"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

// oursConfig is one instance of our daemon.
type oursConfig struct {
	id, label   string
	capture     string // nflog, afpacket or ebpf
	port        uint16 // protected
	spa         uint16 // single-packet port
	table       string // nft table of its grants
	metricsAddr string
	extra       string // more settings, one per line
}

// The instances: the default capture, and the packet socket.
var (
	oursNflog    = oursConfig{id: "ours-nflog", label: "knockdaemon (nflog)", capture: "nflog", port: portOurs, spa: oursSPA, table: "portknock", metricsAddr: "127.0.0.1:9477"}
	oursEBPF     = oursConfig{id: "ours-ebpf", label: "knockdaemon (ebpf)", capture: "ebpf", port: portOursPacket, spa: oursSPA + 1, table: "portknock_xdp", metricsAddr: "127.0.0.1:9479"}
	oursAFPacket = oursConfig{id: "ours-afpacket", label: "knockdaemon (afpacket)", capture: "afpacket", port: portOursPacket, spa: oursSPA + 1, table: "portknock_af", metricsAddr: "127.0.0.1:9478"}
)

// ours is our daemon as the harness drives it: sealed knocks from a key
// file, grants in nftables.
type ours struct {
	cfg     oursConfig
	h       *harness
	keyPath string
	key     *sealed.Key
	span    *portspan.Span
}

func newOurs(h *harness, cfg oursConfig) (*ours, error) {
	o := &ours{cfg: cfg, h: h, keyPath: filepath.Join(h.work, cfg.id+".key")}
	if _, err := os.Stat(o.keyPath); err != nil {
		if _, err := client.Keygen(o.keyPath, crand.Reader, time.Now()); err != nil {
			return nil, fmt.Errorf("writing the sealed key: %w", err)
		}
	}
	b, err := os.ReadFile(o.keyPath)
	if err != nil {
		return nil, err
	}
	if o.key, err = sealed.ParseKeyFile(b); err != nil {
		return nil, err
	}
	if o.span, err = portspan.Parse(spanText); err != nil {
		return nil, err
	}
	return o, nil
}

// settings are the daemon's configuration file; file mode (the log
// rotation fault) passes its own source lines in extra.
func (o *ours) settings(runmode string) string {
	s := fmt.Sprintf(`# written by knockbench
mode       = sealed
keyfile    = %s
portspan   = %s
spaport    = %d
protected  = tcp/%d
duration   = 10
firewall   = nft
nfttable   = "inet %s"
replayfile = %s
metrics    = %s
runmode    = %s
`, o.keyPath, spanText, o.cfg.spa, o.cfg.port, o.cfg.table, filepath.Join(o.h.work, o.cfg.id+".state", "replay"), o.cfg.metricsAddr, runmode)
	if runmode == "network" {
		s += "capture    = " + o.cfg.capture + "\n"
		if o.cfg.capture == "afpacket" || o.cfg.capture == "ebpf" {
			s += "interface  = eth0\n"
		}
	}
	return s + o.cfg.extra
}

// daemon describes the instance for the scenarios, in network mode.
func (o *ours) daemon() *daemon {
	return o.daemonMode(o.cfg.id, "network", "")
}

// daemonMode describes the instance with another source (file mode),
// its configuration and output in files named after name.
func (o *ours) daemonMode(name, runmode, extra string) *daemon {
	d := &daemon{id: o.cfg.id, label: o.cfg.label}
	d.launch = func() (*process, error) {
		conf := filepath.Join(o.h.work, name+".conf")
		if err := os.WriteFile(conf, []byte(o.settings(runmode)+extra), 0o600); err != nil {
			return nil, err
		}
		return startProcess(o.h.topo.host, name, filepath.Join(o.h.work, name+".log"), o.h.bin.daemon, "-conf", conf)
	}
	d.grants = o.grants
	d.metrics = o.scrape
	span := &lane{id: o.cfg.id, label: o.cfg.label, d: d, port: o.cfg.port, build: o.spanKnock}
	if o.cfg.capture == "nflog" {
		span.id, span.label = "ours-span", "knockdaemon, sealed knock over the span (nflog)"
		spa := &lane{id: "ours-spa", label: "knockdaemon, sealed single packet (nflog)", d: d, port: o.cfg.port, build: o.spaKnock}
		d.lanes = []*lane{span, spa}
	} else {
		span.label = "knockdaemon, sealed knock over the span (" + o.cfg.capture + ")"
		d.lanes = []*lane{span}
	}
	return d
}

// seal makes a fresh sealed message for src: now, a random nonce, the
// daemon's default duration.
func (o *ours) seal(src netip.Addr) ([]byte, error) {
	return sealed.Seal(o.key, sealed.Message{Client: src, Port: o.cfg.port, Proto: sealed.TCP, Time: time.Now()}, crand.Reader)
}

// spanKnock is the sealed knock as SYNs over the span, from src.
func (o *ours) spanKnock(src netip.Addr) ([][]byte, error) {
	b, err := o.seal(src)
	if err != nil {
		return nil, err
	}
	return synSequence(src, sealed.Encode(o.span, b))
}

// spaKnock is the sealed knock as one UDP datagram.
func (o *ours) spaKnock(src netip.Addr) ([][]byte, error) {
	b, err := o.seal(src)
	if err != nil {
		return nil, err
	}
	pkt, err := flood.AppendUDP(nil, flood.Header{Src: src, Dst: hostIP, SrcPort: ephemeral(), DstPort: o.cfg.spa, ID: uint16(mrand.Uint32())}, sealed.MarshalSPA(b))
	return [][]byte{pkt}, err
}

// grants lists the addresses in the daemon's IPv4 grant set.
func (o *ours) grants() ([]netip.Addr, error) {
	out, err := o.h.topo.host.Run("nft", "-j", "list", "set", "inet", o.cfg.table, "allowed4")
	if err != nil {
		return nil, err
	}
	return scrape.NFTSetAddrs([]byte(out))
}

// scrape reads the daemon's metrics endpoint, inside the host namespace,
// trying three times: on a loaded machine one read may time out, and a
// missing reading would turn a difference of counters into nonsense.
func (o *ours) scrape() (map[string]float64, error) {
	var err error
	for try := 0; try < 3; try++ {
		var m map[string]float64
		if m, err = o.scrapeOnce(); err == nil {
			return m, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, fmt.Errorf("reading %s's metrics: %w", o.cfg.label, err)
}

func (o *ours) scrapeOnce() (map[string]float64, error) {
	var m scrape.Metrics
	err := o.h.topo.host.Do(func() error {
		c, err := net.DialTimeout("tcp", o.cfg.metricsAddr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", o.cfg.metricsAddr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		m, err = scrape.ParseMetrics(b)
		return err
	})
	return m, err
}

// synSequence builds one SYN per port from src to the host, from fresh
// source ports, as a kernel's connection attempts would look.
func synSequence(src netip.Addr, ports []uint16) ([][]byte, error) {
	out := make([][]byte, 0, len(ports))
	for _, p := range ports {
		pkt, err := flood.AppendSYN(nil, flood.Header{Src: src, Dst: hostIP, SrcPort: ephemeral(), DstPort: p, ID: uint16(mrand.Uint32()), Seq: mrand.Uint32()})
		if err != nil {
			return nil, err
		}
		out = append(out, pkt)
	}
	return out, nil
}

func ephemeral() uint16 { return uint16(32768 + mrand.IntN(28232)) }
