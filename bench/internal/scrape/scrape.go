// Package scrape reads what the daemons under test show of themselves,
// to count the access each one granted and the packets each one saw:
// our daemon's Prometheus metrics and nftables sets, knockd's log,
// iptables rules (knockd's and fwknopd's grants), and the kernel's link
// counters. Each is outside input to the harness, so each parser is
// fuzzed, and a line it does not understand is skipped, never guessed at.
package scrape

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrFormat marks input that is not what the parser reads.
var ErrFormat = errors.New("unexpected format")

// Metrics are Prometheus text-format samples, keyed by the series as
// written: name, or name{labels}.
type Metrics map[string]float64

// ParseMetrics reads the Prometheus text format (comments skipped,
// timestamps ignored).
func ParseMetrics(b []byte) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		series, rest := line, ""
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			series, rest = line[:i+1], line[i+1:]
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			series, rest = line[:i], line[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 || series == "" {
			return nil, fmt.Errorf("metrics line %q: %w", line, ErrFormat)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, ErrFormat)
		}
		m[series] = v
	}
	return m, sc.Err()
}

// Sum adds every series of a metric name, whatever its labels.
func (m Metrics) Sum(name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// KnockdOpened lists the source of every "OPEN SESAME" in knockd's log,
// one entry per opening (an address opened twice appears twice).
//
//	[2026-11-22 01:00] 10.78.0.3: open: OPEN SESAME
func KnockdOpened(log []byte) []netip.Addr {
	var out []netip.Addr
	for _, line := range bytes.Split(log, []byte("\n")) {
		if !bytes.HasSuffix(bytes.TrimSpace(line), []byte("OPEN SESAME")) {
			continue
		}
		s := string(line)
		if i := strings.IndexByte(s, ']'); i >= 0 {
			s = s[i+1:]
		}
		addr, _, ok := strings.Cut(strings.TrimSpace(s), ":")
		if !ok {
			continue
		}
		if a, err := netip.ParseAddr(addr); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// IptablesAccepts lists the sources of the ACCEPT rules for tcp port in
// `iptables -S` output (knockd's and fwknopd's grants).
//
//	-A INPUT -s 10.78.0.3/32 -p tcp -m tcp --dport 2202 -j ACCEPT
func IptablesAccepts(rules []byte, port uint16) []netip.Addr {
	var out []netip.Addr
	want := strconv.Itoa(int(port))
	for _, line := range bytes.Split(rules, []byte("\n")) {
		f := strings.Fields(string(line))
		var src, dport, target string
		for i := 0; i+1 < len(f); i++ {
			switch f[i] {
			case "-s", "--source":
				src = f[i+1]
			case "--dport", "--dports":
				dport = f[i+1]
			case "-j", "--jump":
				target = f[i+1]
			}
		}
		if target != "ACCEPT" || dport != want || src == "" {
			continue
		}
		if p, err := netip.ParsePrefix(src); err == nil && p.IsSingleIP() {
			out = append(out, p.Addr())
		} else if a, err := netip.ParseAddr(src); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// NFTSetAddrs lists the addresses of the elements of the sets in `nft -j
// list set ...` output: the address of an "address . protocol . port"
// element, or the element itself.
func NFTSetAddrs(b []byte) ([]netip.Addr, error) {
	var doc struct {
		Nftables []struct {
			Set *struct {
				Elem []json.RawMessage `json:"elem"`
			} `json:"set"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("nft json: %w: %v", ErrFormat, err)
	}
	var out []netip.Addr
	for _, o := range doc.Nftables {
		if o.Set == nil {
			continue
		}
		for _, raw := range o.Set.Elem {
			if a, ok := elemAddr(raw); ok {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// elemAddr reads one element: a bare value, {"concat": [...]}, or either
// wrapped as {"elem": {"val": ..., "timeout": ...}}.
func elemAddr(raw json.RawMessage) (netip.Addr, bool) {
	var wrapped struct {
		Elem *struct {
			Val json.RawMessage `json:"val"`
		} `json:"elem"`
		Concat []json.RawMessage `json:"concat"`
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		a, err := netip.ParseAddr(s)
		return a, err == nil
	}
	if json.Unmarshal(raw, &wrapped) != nil {
		return netip.Addr{}, false
	}
	switch {
	case wrapped.Elem != nil && wrapped.Elem.Val != nil:
		return elemAddr(wrapped.Elem.Val)
	case len(wrapped.Concat) > 0:
		return elemAddr(wrapped.Concat[0])
	}
	return netip.Addr{}, false
}

// LinkStats are an interface's receive counters.
type LinkStats struct {
	RxPackets uint64 `json:"rx_packets"`
	RxDropped uint64 `json:"rx_dropped"`
}

// ParseLink reads `ip -j -s link show DEV` output.
func ParseLink(b []byte) (LinkStats, error) {
	var links []struct {
		Stats64 *struct {
			Rx struct {
				Packets uint64 `json:"packets"`
				Dropped uint64 `json:"dropped"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(b, &links); err != nil {
		return LinkStats{}, fmt.Errorf("ip link json: %w: %v", ErrFormat, err)
	}
	if len(links) != 1 || links[0].Stats64 == nil {
		return LinkStats{}, fmt.Errorf("ip link json: want one link with stats64: %w", ErrFormat)
	}
	rx := links[0].Stats64.Rx
	return LinkStats{RxPackets: rx.Packets, RxDropped: rx.Dropped}, nil
}
