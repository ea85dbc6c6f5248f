package nft

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The own table's chains. Registers are the 32-bit ones (8 is the first);
// an IPv6 address fills four of them.
//
//	chain input {
//		type filter hook input priority filter - 10; policy accept;
//		meta l4proto . th dport @protected jump guard
//	}
//	chain guard {
//		iif "lo" accept
//		ct state established,related accept
//		ip saddr . meta l4proto . th dport @allowed4 accept
//		ip6 saddr . meta l4proto . th dport @allowed6 accept
//		drop
//	}
func (b *Backend) chains() (input, guard *nftables.Chain) {
	accept := nftables.ChainPolicyAccept
	input = &nftables.Chain{
		Name: inputChain, Table: b.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityRef(guardPriority),
		Policy: &accept,
	}
	guard = &nftables.Chain{Name: guardChain, Table: b.table}
	return input, guard
}

// inputRules sends packets for a protected port to the guard; everything
// else passes this table untouched.
func (b *Backend) inputRules() [][]expr.Any {
	lookup := append(serviceLoad(8), &expr.Lookup{SourceRegister: 8, SetName: b.protected.Name, SetID: b.protected.ID})
	return [][]expr.Any{append(lookup, &expr.Verdict{Kind: expr.VerdictJump, Chain: guardChain})}
}

// guardRules decide for a packet to a protected port: local traffic and
// connections already set up pass, granted sources pass, the rest drops.
func (b *Backend) guardRules() [][]expr.Any {
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	established := binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED)
	rules := [][]expr.Any{
		{
			&expr.Meta{Key: expr.MetaKeyIIF, Register: 8},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 8, Data: binaryutil.NativeEndian.PutUint32(loopbackIfindex)},
			accept,
		},
		{
			&expr.Ct{Key: expr.CtKeySTATE, Register: 8},
			&expr.Bitwise{SourceRegister: 8, DestRegister: 8, Len: 4, Mask: established, Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 8, Data: make([]byte, 4)},
			accept,
		},
	}
	rules = append(rules, allowedRule(b.set4, unix.NFPROTO_IPV4, 12, 4), allowedRule(b.set6, unix.NFPROTO_IPV6, 8, 16))
	return append(rules, []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}})
}

// allowedRule is "ip saddr . meta l4proto . th dport @set accept" (or
// ip6): the source address at offset off of the network header, then the
// protocol and destination port, looked up in the set.
func allowedRule(set *nftables.Set, nfproto byte, off, size uint32) []expr.Any {
	next := 8 + size/4
	rule := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 8},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 8, Data: []byte{nfproto}},
		&expr.Payload{DestRegister: 8, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size},
	}
	rule = append(rule, serviceLoad(next)...)
	return append(rule,
		&expr.Lookup{SourceRegister: 8, SetName: set.Name, SetID: set.ID},
		&expr.Verdict{Kind: expr.VerdictAccept})
}

// serviceLoad is "meta l4proto . th dport" into registers reg and reg+1.
// th dport reads the transport header the kernel located, past any IPv6
// extension headers, as meta l4proto does.
func serviceLoad(reg uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
		&expr.Payload{DestRegister: reg + 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}
