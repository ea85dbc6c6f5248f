package nft_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/firewall/nft"
)

func TestConfigRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  nft.Config
		says string
	}{
		{"no ports", nft.Config{}, "no protected ports"},
		{"port 0", nft.Config{Protected: []knock.Port{{Proto: "tcp"}}}, `protected port "tcp/0"`},
		{"unknown proto", nft.Config{Protected: []knock.Port{{Proto: "sctp", Port: 22}}}, `protocol "sctp"`},
		{"upper-case proto", nft.Config{Protected: []knock.Port{{Proto: "TCP", Port: 22}}}, `protocol "TCP"`},
		{"unknown mode", nft.Config{Mode: "mark", Protected: ssh}, `mode "mark"`},
		{"own table not inet", nft.Config{Family: "ip", Protected: ssh}, "always inet"},
		{"existing without table", nft.Config{Mode: nft.ExistingTable, Protected: ssh}, "needs the name"},
		{"unknown family", nft.Config{Mode: nft.ExistingTable, Family: "bridge", Table: "filter", Protected: ssh}, `family "bridge"`},
		{"ipv6 set in ip table", nft.Config{Mode: nft.ExistingTable, Family: "ip", Table: "filter", Set6: "v6", Protected: ssh}, `set6 "v6"`},
		{"ipv4 set in ip6 table", nft.Config{Mode: nft.ExistingTable, Family: "ip6", Table: "filter", Set4: "v4", Protected: ssh}, `set4 "v4"`},
		{"bad table name", nft.Config{Table: "port knock", Protected: ssh}, `table name "port knock"`},
		{"name starts with digit", nft.Config{Set4: "4allowed", Protected: ssh}, `set4 name "4allowed"`},
		{"same set twice", nft.Config{Set4: "grants", Set6: "grants", Protected: ssh}, `both "grants"`},
		{"set named protected", nft.Config{Set6: "protected", Protected: ssh}, `"protected"`},
		{"long name", nft.Config{Table: strings.Repeat("x", 256), Protected: ssh}, "at most 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nft.New(tc.cfg)
			if !errors.Is(err, nft.ErrConfig) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("New: %v\nwant %v saying %q", err, nft.ErrConfig, tc.says)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		cfg               nft.Config
		table, set4, set6 string
	}{
		{nft.Config{}, "portknock", "allowed4", "allowed6"},
		{nft.Config{Mode: nft.ExistingTable, Table: "filter"}, "filter", "portknock4", "portknock6"},
		{nft.Config{Mode: nft.ExistingTable, Family: "ip", Table: "filter"}, "filter", "portknock4", ""},
		{nft.Config{Mode: nft.ExistingTable, Family: "ip6", Table: "filter"}, "filter", "", "portknock6"},
	} {
		tc.cfg.Protected = []knock.Port{{Proto: "udp", Port: 51820}, {Proto: "tcp", Port: 22}, {Proto: "tcp", Port: 22}}
		b, err := nft.New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := b.Config()
		if got.Table != tc.table || got.Set4 != tc.set4 || got.Set6 != tc.set6 || got.Family == "" {
			t.Errorf("%+v: got %s %s sets %q %q", tc.cfg, got.Family, got.Table, got.Set4, got.Set6)
		}
		if len(got.Protected) != 2 || got.Protected[0].String() != "tcp/22" {
			t.Errorf("protected %v, want tcp/22 then udp/51820", got.Protected)
		}
	}
}

// Grants that must not reach the kernel are refused before it is asked,
// so these run anywhere.
func TestOpenRefused(t *testing.T) {
	own, err := nft.New(nft.Config{Protected: ssh})
	if err != nil {
		t.Fatal(err)
	}
	v4only, err := nft.New(nft.Config{Mode: nft.ExistingTable, Family: "ip", Table: "filter", Protected: ssh})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    *nft.Backend
		g    firewall.Grant
		want error
	}{
		{"port not protected", own, grant("192.0.2.1", 3306, time.Hour), nft.ErrNotProtected},
		{"udp on a tcp port", own, firewall.Grant{Addr: netip.MustParseAddr("192.0.2.1"), Proto: knock.UDP, Port: 22, Duration: time.Hour}, nft.ErrNotProtected},
		{"zero duration", own, grant("192.0.2.1", 22, 0), nft.ErrDuration},
		{"half a second", own, grant("192.0.2.1", 22, time.Second/2), nft.ErrDuration},
		{"negative duration", own, grant("192.0.2.1", 22, -time.Second), nft.ErrDuration},
		{"no address", own, firewall.Grant{Proto: knock.TCP, Port: 22, Duration: time.Hour}, nft.ErrFamily},
		{"ipv6 in an ip table", v4only, grant("2001:db8::1", 22, time.Hour), nft.ErrFamily},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.Open(context.Background(), tc.g)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
	if err := own.Close(context.Background(), firewall.Grant{Proto: "icmp", Port: 22}); !errors.Is(err, nft.ErrNotProtected) && !errors.Is(err, nft.ErrFamily) {
		t.Errorf("Close of a nonsense grant: %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	b, err := nft.New(nft.Config{Protected: ssh})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Open(ctx, grant("192.0.2.1", 22, time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a canceled context: %v", err)
	}
}
