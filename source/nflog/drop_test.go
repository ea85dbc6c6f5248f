package nflog_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/nflog"
	"github.com/portknock/knock/source/packet/packettest"
)

// With Drop, the host never answers a knock: a SYN to a span port is
// logged and then dropped, so the knocker's connect times out instead of
// being refused. Without it, the kernel's RST comes back.
func TestDropSilencesKnocks(t *testing.T) {
	for _, drop := range []bool{false, true} {
		p := needNetns(t)
		hits := make(chan source.Hit, 4)
		start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), Drop: drop}, hits)
		var err error
		p.Client.Do(func() error {
			var c net.Conn
			c, err = net.DialTimeout("tcp", "10.77.0.1:800", 300*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return nil
		})
		refused := errors.Is(err, syscall.ECONNREFUSED)
		if refused == drop {
			t.Errorf("Drop %v: connect to a span port: %v", drop, err)
		}
		select {
		case h := <-hits:
			if h.Port != 800 {
				t.Errorf("Drop %v: hit on port %d, want 800", drop, h.Port)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("Drop %v: the knock was not logged", drop)
		}
	}
}

// A host firewall reload that flushes the whole ruleset removes the
// source's table; the source puts it back and hears knocks again.
func TestRuleRestoredAfterFlush(t *testing.T) {
	p := needNetns(t)
	hits := make(chan source.Hit, 4)
	s := start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), Repair: 50 * time.Millisecond}, hits)
	p.Host.MustRun("nft", "flush", "ruleset")
	deadline := time.Now().Add(5 * time.Second)
	for s.Counters()["rule_reinstalled"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the table was not put back after a flush")
		}
		time.Sleep(20 * time.Millisecond)
	}
	k := packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 800, Payload: []byte("after")}
	packettest.Send(t, p, k)
	packettest.Expect(t, hits, nil, packettest.HitOf(p, k))
}

// The kernel announces a flush on the nftables multicast group: the
// source puts its table back at once, not at its next periodic check
// (an hour away here).
func TestFlushRepairedFromEvents(t *testing.T) {
	p := needNetns(t)
	hits := make(chan source.Hit, 4)
	s := start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), Group: 31, Repair: time.Hour}, hits)
	p.Host.MustRun("nft", "flush", "ruleset")
	deadline := time.Now().Add(5 * time.Second)
	for s.Counters()["rule_reinstalled"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the table was not put back after a flush")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Host.MustRun("nft", "list", "table", "inet", "portknock_log_31")
	k := packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 800, Payload: []byte("after")}
	packettest.Send(t, p, k)
	packettest.Expect(t, hits, nil, packettest.HitOf(p, k))
}

// Two sources in one namespace: each with its own group has its own
// table; a second one on a group already bound refuses, saying so, and
// leaves the first one's table alone.
func TestGroupInUse(t *testing.T) {
	p := needNetns(t)
	first := make(chan source.Hit, 4)
	start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), Group: 21}, first)
	second := make(chan source.Hit, 4)
	start(t, p, nflog.Config{Span: packettest.Span(t, "2000-2015"), Group: 22}, second)
	tables := p.Host.MustRun("nft", "list", "tables")
	if !strings.Contains(tables, "portknock_log_21") || !strings.Contains(tables, "portknock_log_22") {
		t.Fatalf("want a table per group, got:\n%s", tables)
	}

	fd, err := p.Host.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer os.NewFile(uintptr(fd), "netns").Close()
	s, err := nflog.New(nflog.Config{Span: packettest.Span(t, "3000-3015"), Group: 21, NetNSFd: fd})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background(), make(chan source.Hit))
	const want = "NFLOG group 21 is in use by another process: give this daemon its own nfloggroup"
	if _, ok := errors.AsType[*nflog.GroupInUseError](err); !ok || err.Error() != want {
		t.Fatalf("second source on group 21: got %v, want %q", err, want)
	}

	k1 := packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 800, Payload: []byte("one")}
	packettest.Send(t, p, k1)
	packettest.Expect(t, first, nil, packettest.HitOf(p, k1))
	k2 := packettest.Knock{Dst: p.HostV4, Proto: knock.UDP, Port: 2005, Payload: []byte("two")}
	packettest.Send(t, p, k2)
	packettest.Expect(t, second, nil, packettest.HitOf(p, k2))
}

// The shared table an earlier version left behind, logging to this
// source's group, goes: it would log every knock twice. One logging to
// another group belongs to another daemon and stays.
func TestStaleSharedTableRemoved(t *testing.T) {
	p := needNetns(t)
	const old = "add table inet portknock_log\n" +
		"add chain inet portknock_log prerouting { type filter hook prerouting priority -310; }\n" +
		"add rule inet portknock_log prerouting udp dport 800 log group %d\n"
	p.Host.MustRun("nft", fmt.Sprintf(old, 41))
	start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), Group: 42}, make(chan source.Hit, 4))
	if tables := p.Host.MustRun("nft", "list", "tables"); !strings.Contains(tables, "portknock_log\n") {
		t.Fatalf("another group's shared table was removed:\n%s", tables)
	}
	p.Host.MustRun("nft", "delete table inet portknock_log")
	p.Host.MustRun("nft", fmt.Sprintf(old, 43))
	start(t, p, nflog.Config{Span: packettest.Span(t, "745-1000"), Group: 43}, make(chan source.Hit, 4))
	if tables := p.Host.MustRun("nft", "list", "tables"); strings.Contains(tables, "portknock_log\n") {
		t.Fatalf("the stale shared table on this group stayed:\n%s", tables)
	}
}
