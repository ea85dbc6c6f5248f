package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-all"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.flood || !o.latency || !o.lossy || !o.faults || !o.load || !o.fwknop || !slices.Equal(o.rates, []int{10000, 50000, 100000}) || !slices.Equal(o.fwknopRates, []int{10000, 30000}) ||
		!o.ebpf || !o.ebpfLong || !slices.Equal(o.ebpfRates, []int{10000, 100000}) || o.longCount != 10_000_000 || o.longPrefix.Bits() != 8 {
		t.Errorf("-all: %+v", o)
	}
	for _, bad := range [][]string{
		nil, {"-flood", "-rates", "10,x"}, {"-flood", "-rates", "0"}, {"-flood", "-rates", "5000000"},
		{"-flood", "-flood-duration", "1h"}, {"-flood", "-prefix", "nonsense"}, {"-flood", "-targets", "all"},
		{"-flood", "-src", "elsewhere"}, {"-flood", "extra"}, {"-fwknop", "-fwknop-rates", "0"}, {"-fwknop", "-fwknop-rates", "400000"},
		{"-ebpf", "-ebpf-rates", "0"}, {"-ebpf", "-ebpf-repeat", "0"}, {"-ebpf-long", "-long-count", "60000000"},
		{"-ebpf-long", "-long-rate", "0"}, {"-ebpf-long", "-long-prefix", "nonsense"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestMaskedCommand(t *testing.T) {
	got := maskedCommand([]string{"/tmp/w1/bin/knockclient", "-conf", "/tmp/w1/c.conf", "--key-base64-hmac", "c2VjcmV0", "-a", "10.78.0.1"}, "/tmp/w1")
	if strings.Contains(got, "c2VjcmV0") || !strings.Contains(got, "$WORK/bin/knockclient") {
		t.Errorf("got %q", got)
	}
}

func TestFloodPorts(t *testing.T) {
	if n := len(floodPorts("span")); n != 256 {
		t.Errorf("span: %d ports", n)
	}
	for _, p := range floodPorts("sequence") {
		if p < spanLo || p > spanHi {
			t.Errorf("knockd's port %d is outside our span: the sequence flood would miss our daemon", p)
		}
	}
}

func TestDelta(t *testing.T) {
	d := delta(map[string]float64{"a_total": 5, "g": 1}, map[string]float64{"a_total": 8, "b_total": 0, "g": 2})
	if len(d) != 2 || d["a_total"] != 3 || d["g"] != 2 {
		t.Errorf("got %v", d)
	}
}

func TestLocateLostKnock(t *testing.T) {
	dir := t.TempDir()
	w, err := openRotWriter(dir + "/kern.log")
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	a, b := netip.MustParseAddr("10.78.0.1"), netip.MustParseAddr("10.78.0.2")
	line := func(src netip.Addr) string {
		return "Nov 22 01:12:20 localhost kernel: knock: IN=eth0 OUT= SRC=" + src.String() + " DST=10.88.0.1 LEN=60 PROTO=TCP SPT=5000 DPT=40001 SYN URGP=0"
	}
	w.write(line(a))
	w.write(line(b))
	w.write("Nov 22 01:12:20 localhost CRON[4242]: (root) CMD (run-parts /etc/cron.hourly)")
	if err := w.copytruncate(dir + "/kern.log.1"); err != nil {
		t.Fatal(err)
	}
	w.write(line(a))
	got := w.locate(b)
	if got.File != "kern.log.1" || got.Rotation != "copytruncate" || !got.Last {
		t.Errorf("locate(%s) = %+v", b, got)
	}
	if got := w.locate(netip.MustParseAddr("10.78.0.9")); got.File != "" {
		t.Errorf("a knock never written was found: %+v", got)
	}
}
