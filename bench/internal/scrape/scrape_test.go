package scrape

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func read(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics(read(t, "metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m[`knockdaemon_knocks_rejected_total{protocol="legacy",reason="replay",user=""}`]; !ok {
		t.Errorf("no replay series in %v", m)
	}
	m2, err := ParseMetrics([]byte("a{x=\"1\"} 2\na{x=\"2\"} 3 1700000000\nb 7\n# c 9\n"))
	if err != nil || m2.Sum("a") != 5 || m2["b"] != 7 || m2.Sum("c") != 0 {
		t.Errorf("got %v, %v", m2, err)
	}
	if _, err := ParseMetrics(read(t, "metrics-bad.txt")); !errors.Is(err, ErrFormat) {
		t.Errorf("bad metrics: %v", err)
	}
}

func TestKnockdOpened(t *testing.T) {
	got := KnockdOpened(read(t, "knockd.log"))
	if len(got) != 4 || got[0] != netip.MustParseAddr("10.78.0.7") {
		t.Errorf("got %v", got)
	}
}

func TestIptablesAccepts(t *testing.T) {
	if got := IptablesAccepts(read(t, "iptables-input.txt"), 2202); !slices.Equal(got, addrs("10.78.0.3")) {
		t.Errorf("INPUT: %v", got)
	}
	if got := IptablesAccepts(read(t, "iptables-fwknop.txt"), 2203); !slices.Equal(got, addrs("10.78.0.9")) {
		t.Errorf("FWKNOP_INPUT: %v", got)
	}
	if got := IptablesAccepts(read(t, "iptables-input.txt"), 22); len(got) != 0 {
		t.Errorf("port 22: %v", got)
	}
}

func TestNFTSetAddrs(t *testing.T) {
	got, err := NFTSetAddrs(read(t, "nft-set.json"))
	if err != nil || !slices.Equal(got, addrs("10.200.3.4", "10.78.0.5")) {
		t.Errorf("got %v, %v", got, err)
	}
	if got, err := NFTSetAddrs(read(t, "nft-empty.json")); err != nil || len(got) != 0 {
		t.Errorf("empty set: %v, %v", got, err)
	}
	if _, err := NFTSetAddrs(read(t, "bad.json")); !errors.Is(err, ErrFormat) {
		t.Errorf("bad json: %v", err)
	}
	got, _ = NFTSetAddrs([]byte(`{"nftables":[{"set":{"elem":["10.0.0.1",{"concat":["10.0.0.2","tcp",1]},{"elem":{"val":"10.0.0.3"}},7]}}]}`))
	if !slices.Equal(got, addrs("10.0.0.1", "10.0.0.2", "10.0.0.3")) {
		t.Errorf("element forms: %v", got)
	}
}

func TestParseLink(t *testing.T) {
	if _, err := ParseLink(read(t, "ip-link.json")); err != nil {
		t.Error(err)
	}
	if _, err := ParseLink([]byte("[]")); !errors.Is(err, ErrFormat) {
		t.Errorf("no link: %v", err)
	}
}

func FuzzParsers(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/")
	}
	for _, p := range files {
		f.Add(read(f, filepath.Base(p)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseMetrics(b)
		KnockdOpened(b)
		IptablesAccepts(b, 2202)
		if as, err := NFTSetAddrs(b); err == nil {
			for _, a := range as {
				if !a.IsValid() {
					t.Errorf("invalid address from %q", b)
				}
			}
		}
		ParseLink(b)
	})
}
