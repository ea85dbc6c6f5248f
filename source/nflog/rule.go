package nflog

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/portknock/knock/source/packet"
)

// The chain's place: see the package documentation.
const (
	chainName     = "prerouting"
	chainPriority = -310 // raw - 10
	setName       = "knock_ports"
	doorSetName   = "knockd_tcp_ports"
	doorUDPName   = "knockd_udp_ports"
	// setID names the set within one transaction. A fixed value avoids
	// the nftables package's global counter, which is not safe for use
	// from goroutines (the firewall backend may be adding sets too).
	setID      = 1
	doorSetID  = 2
	doorUDPID  = 3
	ifNameSize = unix.IFNAMSIZ
)

func conn(cfg Config) (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if cfg.NetNSFd != 0 {
		opts = append(opts, nftables.WithNetNSFd(cfg.NetNSFd))
	}
	return nftables.New(opts...)
}

func table(cfg Config) *nftables.Table {
	return &nftables.Table{Family: nftables.TableFamilyINet, Name: cfg.Table}
}

// install puts the source's table in place in one transaction, replacing
// any left over by a daemon that did not exit cleanly.
//
// anyFlags are TCP ports logged whatever a segment's flags, doorUDP UDP
// ports (knockd's doors): their rules come first and accept what they log,
// ending this chain, so that a packet to a port in two sets is logged
// once; they never drop (see Config.DoorUDP).
func install(cfg Config, ports, anyFlags, doorUDP packet.Ports) error {
	c, err := conn(cfg)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := table(cfg)
	c.AddTable(t) // so that the delete below finds one
	c.DelTable(t)
	if old := staleShared(c, cfg); old != nil {
		c.DelTable(old)
	}
	c.AddTable(t)
	set := &nftables.Set{Table: t, ID: setID, Name: setName, KeyType: nftables.TypeInetService, Interval: true}
	if err := c.AddSet(set, setElements(ports)); err != nil {
		return fmt.Errorf("nftables set %q: %w", setName, err)
	}
	ch := c.AddChain(&nftables.Chain{
		Name: chainName, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(chainPriority),
	})
	for _, door := range []struct {
		name  string
		id    uint32
		ports packet.Ports
		proto []expr.Any
	}{{doorSetName, doorSetID, anyFlags, tcp()}, {doorUDPName, doorUDPID, doorUDP, udp()}} {
		if len(door.ports) == 0 {
			continue
		}
		set := &nftables.Set{Table: t, ID: door.id, Name: door.name, KeyType: nftables.TypeInetService, Interval: true}
		if err := c.AddSet(set, setElements(door.ports)); err != nil {
			return fmt.Errorf("nftables set %q: %w", door.name, err)
		}
		exprs := append(iifname(cfg.Interface), door.proto...)
		exprs = append(exprs, toSpan(set)...)
		exprs = append(exprs, local()...)
		exprs = append(exprs, logGroup(cfg.Group, cfg.Batch), &expr.Verdict{Kind: expr.VerdictAccept})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
	}
	if len(ports) > 0 {
		for _, match := range [][]expr.Any{tcpSYN(), udp()} {
			exprs := append(iifname(cfg.Interface), match...)
			exprs = append(exprs, toSpan(set)...)
			exprs = append(exprs, local()...)
			exprs = append(exprs, logGroup(cfg.Group, cfg.Batch))
			if cfg.Drop {
				exprs = append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("installing nftables table inet %q: %w", cfg.Table, err)
	}
	return nil
}

// sharedTable is the table every daemon shared before tables were named
// after their group.
const sharedTable = "portknock_log"

// staleShared returns the shared table of an earlier version when its
// rules log to this source's group: since this source holds the group,
// the daemon that installed it is gone (killed, or upgraded), and its
// rules would log every knock twice, once per table.
func staleShared(c *nftables.Conn, cfg Config) *nftables.Table {
	if cfg.Table == sharedTable {
		return nil
	}
	old := &nftables.Table{Family: nftables.TableFamilyINet, Name: sharedTable}
	rules, err := c.GetRules(old, &nftables.Chain{Name: chainName, Table: old})
	if err != nil {
		return nil
	}
	for _, r := range rules {
		for _, e := range r.Exprs {
			if l, ok := e.(*expr.Log); ok && l.Group == cfg.Group {
				return old
			}
		}
	}
	return nil
}

// installed reports whether the source's table is in the kernel.
func installed(cfg Config) (bool, error) {
	c, err := conn(cfg)
	if err != nil {
		return false, err
	}
	_, err = c.ListTableOfFamily(cfg.Table, nftables.TableFamilyINet)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	return err == nil, err
}

// remove deletes the source's table; a table already gone is no error.
func remove(cfg Config) error {
	c, err := conn(cfg)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	c.DelTable(table(cfg))
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing nftables table inet %q: %w", cfg.Table, err)
	}
	return nil
}

// setElements writes port ranges as an interval set, the way nft does:
// an interval end at 0 first, then each range's start and the port after
// its end (none after 65535).
func setElements(ps packet.Ports) []nftables.SetElement {
	var els []nftables.SetElement
	if len(ps) > 0 && ps[0].First > 0 {
		els = append(els, nftables.SetElement{Key: port(0), IntervalEnd: true})
	}
	for _, r := range ps {
		els = append(els, nftables.SetElement{Key: port(r.First)})
		if r.Last < 0xffff {
			els = append(els, nftables.SetElement{Key: port(r.Last + 1), IntervalEnd: true})
		}
	}
	return els
}

func port(p uint16) []byte { return binaryutil.BigEndian.PutUint16(p) }

// iifname matches the interface a packet arrives on, when one is set.
func iifname(name string) []expr.Any {
	if name == "" {
		return nil
	}
	b := make([]byte, ifNameSize)
	copy(b, name)
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b},
	}
}

// tcpSYN matches "tcp flags & (syn | ack) == syn".
func tcpSYN() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x12}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x02}},
	}
}

func tcp() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}
}

func udp() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
	}
}

// toSpan matches "th dport @knock_ports".
func toSpan(set *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
	}
}

// local matches "fib daddr type local": packets for this host, not ones
// passing through it.
func local() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// logGroup is "log group G queue-threshold B", B the batch: the rule's
// threshold caps the socket's, so it must not be lower.
func logGroup(group uint16, batch int) expr.Any {
	return &expr.Log{
		Key:        1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_QTHRESHOLD,
		Group:      group,
		QThreshold: uint16(batch),
	}
}
