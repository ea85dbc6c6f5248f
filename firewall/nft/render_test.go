package nft_test

import (
	"os"
	"strings"
	"testing"

	"github.com/portknock/knock/firewall/nft"
)

// The rendered rulesets are files a reader can open; the README quotes
// them verbatim, so the docs cannot drift from the code.
func TestRuleset(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		cfg  nft.Config
	}{
		{"own-table.nft", nft.Config{Protected: goldenPorts}},
		{"existing-table.nft", nft.Config{Mode: nft.ExistingTable, Table: "filter", Protected: goldenPorts}},
		{"existing-ip.nft", nft.Config{Mode: nft.ExistingTable, Family: "ip", Table: "filter", Protected: ssh}},
	} {
		b, err := nft.New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := b.Ruleset()
		golden(t, tc.file, got)
		if tc.file != "existing-ip.nft" && !strings.Contains(string(readme), got) {
			t.Errorf("README.md does not show testdata/%s as it is rendered", tc.file)
		}
	}
}
