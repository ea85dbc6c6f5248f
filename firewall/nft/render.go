package nft

import (
	"fmt"
	"strings"

	"github.com/google/nftables"
)

// Ruleset renders, in nft syntax, what Setup works with. In own-table
// mode it is the table Setup installs, as "nft list ruleset" prints it
// (with its element list on one line). In existing-table mode it is what
// the administrator adds to their table: the two set declarations, and
// the rules to put in the input chain as comments. Either loads with
// "nft -f".
func (b *Backend) Ruleset() string {
	var s strings.Builder
	if b.cfg.Mode == ExistingTable {
		s.WriteString("# Sets the port-knocking daemon fills; the kernel removes each grant\n")
		s.WriteString("# when its time is up.\n")
	}
	fmt.Fprintf(&s, "table %s {\n", b.where())
	var blocks []string
	if b.cfg.Mode == OwnTable {
		var ports []string
		for _, p := range b.cfg.Protected {
			ports = append(ports, fmt.Sprintf("%s . %d", p.Proto, p.Port))
		}
		blocks = append(blocks, setText(b.protected, "\t", "elements = { "+strings.Join(ports, ", ")+" }"))
	}
	for _, set := range b.allowedSets() {
		blocks = append(blocks, setText(set, "\t"))
	}
	if b.cfg.Mode == OwnTable {
		blocks = append(blocks, b.chainsText())
	} else {
		hint := "\t# In the input chain, before anything that drops:\n"
		for _, line := range b.AdminRules() {
			hint += "\t#\t" + line + "\n"
		}
		blocks = append(blocks, hint)
	}
	s.WriteString(strings.Join(blocks, "\n"))
	s.WriteString("}\n")
	return s.String()
}

// AdminRules are the lines the administrator's input chain needs in
// existing-table mode, one per address family the table carries.
func (b *Backend) AdminRules() []string {
	var lines []string
	for _, s := range b.allowedSets() {
		lines = append(lines, adminRule(s))
	}
	return lines
}

func adminRule(s *nftables.Set) string {
	family := "ip"
	if s.KeyType.Name == typeAllowed6.Name {
		family = "ip6"
	}
	return family + " saddr . meta l4proto . th dport @" + s.Name + " accept"
}

// setText declares a set, indented by indent, with more lines at its end.
func setText(s *nftables.Set, indent string, more ...string) string {
	lines := []string{"type " + s.KeyType.Name}
	if s.HasTimeout {
		lines = append(lines, "flags timeout")
	}
	text := indent + "set " + s.Name + " {\n"
	for _, l := range append(lines, more...) {
		text += indent + "\t" + l + "\n"
	}
	return text + indent + "}\n"
}

// chainsText is the own table's chains; guard.go builds the same rules as
// netlink expressions, and the golden test checks that they agree.
func (b *Backend) chainsText() string {
	return fmt.Sprintf(`	chain input {
		type filter hook input priority filter - %d; policy accept;
		meta l4proto . th dport @%s jump guard
	}

	chain guard {
		iif "lo" accept
		ct state established,related accept
		ip saddr . meta l4proto . th dport @%s accept
		ip6 saddr . meta l4proto . th dport @%s accept
		drop
	}
`, -guardPriority, protectedSet, b.set4.Name, b.set6.Name)
}
