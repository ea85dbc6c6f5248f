package iptables

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
)

func TestNewRejects(t *testing.T) {
	tcp22 := []knock.Port{{Proto: knock.TCP, Port: 22}}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no protected ports configured: invalid iptables configuration"},
		{Config{Protected: []knock.Port{{Proto: "icmp", Port: 22}}}, `protected port "icmp/22"`},
		{Config{Protected: []knock.Port{{Proto: knock.TCP, Port: 0}}}, `protected port "tcp/0"`},
		{Config{Protected: tcp22, Chain: "INPUT"}, `chain name "INPUT"`},
		{Config{Protected: tcp22, Chain: "-x"}, `chain name "-x"`},
		{Config{Protected: tcp22, Chain: strings.Repeat("A", 29)}, "chain name"},
		{Config{Protected: tcp22, IPTables: "/nonexistent/iptables"}, `iptables binary "/nonexistent/iptables" not found`},
		{Config{Protected: tcp22, IPTables: "/bin/true", IP6Tables: "no-such-ip6tables"}, `ip6tables binary "no-such-ip6tables" not found`},
		{Config{Protected: tcp22, IPTables: "/bin/true", IP6Tables: "/bin/true", Wrapper: []string{"no-such-wrapper"}}, `wrapper "no-such-wrapper" not found`},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

// TestOpenRejects: grants the backend must refuse are refused before any
// command runs (the binaries here would fail the test if called).
func TestOpenRejects(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 0, 0, 500e6, time.UTC)
	b, err := New(Config{Protected: []knock.Port{{Proto: knock.TCP, Port: 22}}, IPTables: "/bin/false", IP6Tables: "/bin/false",
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("192.0.2.1")
	for _, tc := range []struct {
		g    firewall.Grant
		want error
	}{
		{firewall.Grant{Addr: a, Proto: knock.TCP, Port: 23, Duration: time.Minute}, ErrNotProtected},
		{firewall.Grant{Addr: a, Proto: knock.UDP, Port: 22, Duration: time.Minute}, ErrNotProtected},
		{firewall.Grant{Addr: a, Proto: "sctp", Port: 22, Duration: time.Minute}, ErrBadGrant},
		{firewall.Grant{Proto: knock.TCP, Port: 22, Duration: time.Minute}, ErrBadGrant},
		{firewall.Grant{Addr: netip.MustParseAddr("0.0.0.0"), Proto: knock.TCP, Port: 22, Duration: time.Minute}, ErrBadGrant},
		{firewall.Grant{Addr: netip.MustParseAddr("fe80::1%eth0"), Proto: knock.TCP, Port: 22, Duration: time.Minute}, ErrBadGrant},
		{firewall.Grant{Addr: a, Proto: knock.TCP, Port: 22, Duration: 0}, ErrBadGrant},
		{firewall.Grant{Addr: a, Proto: knock.TCP, Port: 22, Duration: -time.Hour}, ErrBadGrant},
		{firewall.Grant{Addr: a, Proto: knock.TCP, Port: 22, Duration: 400 * time.Millisecond}, ErrBadGrant},
		{firewall.Grant{Addr: a, Proto: knock.TCP, Port: 22, Duration: 10 * 365 * 24 * time.Hour}, ErrBadGrant},
	} {
		if err := b.Open(context.Background(), tc.g); !errors.Is(err, tc.want) {
			t.Errorf("Open(%+v) = %v, want %v", tc.g, err, tc.want)
		}
	}
}

// TestStop: the rule's stop second is the last whole second before the
// grant ends, so access ends at most a second early and never late; an
// IPv4-mapped address is written as IPv4.
func TestStop(t *testing.T) {
	b := &Backend{protected: []knock.Port{{Proto: knock.TCP, Port: 22}}}
	for _, tc := range []struct {
		now  time.Time
		d    time.Duration
		want string
	}{
		{time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC), 15 * time.Minute, "2030-01-02T03:14:59"},
		{time.Date(2030, 1, 2, 3, 0, 0, 999e6, time.UTC), 15 * time.Minute, "2030-01-02T03:14:59"},
		{time.Date(2030, 1, 2, 3, 0, 0, 999e6, time.UTC), 1 * time.Second, "2030-01-02T03:00:00"},
		{time.Date(2030, 1, 2, 4, 0, 0, 0, time.FixedZone("CET", 3600)), time.Second, "2030-01-02T03:00:00"},
	} {
		b.now = func() time.Time { return tc.now }
		r, err := b.grantRule(firewall.Grant{Addr: netip.MustParseAddr("::ffff:192.0.2.1"), Proto: knock.TCP, Port: 22, Duration: tc.d})
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Join(r.args(), " ")
		want := "-s 192.0.2.1/32 -p tcp -m tcp --dport 22 -m time --datestop " + tc.want + " -m comment --comment portknock-grant -j ACCEPT"
		if args != want {
			t.Errorf("at %s for %s:\n got %s\nwant %s", tc.now, tc.d, args, want)
		}
		if !r.end().After(tc.now) || r.end().After(tc.now.Add(tc.d)) {
			t.Errorf("at %s for %s: end %s outside (now, now+d]", tc.now, tc.d, r.end())
		}
	}
}
