package logfile

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"

	"github.com/portknock/knock"
	"github.com/portknock/knock/logline"
	"github.com/portknock/knock/source"
)

// Why a line gave no hit. Parse returns them, wrapped with detail for
// ErrBadField; the source counts them.
var (
	// ErrUnmatched: no pattern matches the line (most of a busy log).
	ErrUnmatched = errors.New("no pattern matches the line")
	// ErrNotKnock: a pattern matches, but the packet is neither a UDP
	// datagram nor a TCP SYN (an ACK of an open connection, ICMP, ...).
	ErrNotKnock = errors.New("not a knock: neither a TCP SYN nor a UDP datagram")
	// ErrBadField: a pattern matches, but an address or port in it does
	// not parse.
	ErrBadField = errors.New("bad field")
)

// NetfilterLOG reads the lines the kernel writes for the iptables LOG
// target and the nftables log statement (both go through nf_log_syslog),
// IPv4 and IPv6 alike:
//
//	knock: IN=eth0 OUT= MAC=... SRC=10.77.9.2 DST=10.77.9.1 LEN=60 TOS=0x00
//	PREC=0x00 TTL=64 ID=59980 DF PROTO=TCP SPT=50764 DPT=745 WINDOW=64240
//	RES=0x00 SYN URGP=0
//
// SRC must follow a space, and nothing it reads may lie past a '[': an
// ICMP error quotes the packet that caused it in brackets
// ("PROTO=ICMP TYPE=3 CODE=3 [SRC=... PROTO=UDP SPT=... DPT=745 ...]"), and
// that quoted packet is not a knock. The TCP flags sit between RES= and
// URGP=; they let the parser keep SYNs and drop the rest of a connection.
const NetfilterLOG = ` SRC=(?P<src>\S+) DST=(?P<dst>\S*) (?:[^\[]*? )?PROTO=(?P<proto>\w+) SPT=\d+ DPT=(?P<dport>\d+)\b` +
	`(?:[^\[]*? RES=0x[0-9A-Fa-f]+ (?P<flags>(?:[A-Z]+ )*)URGP=)?`

// KernelLine matches the start of a line only the kernel wrote: a syslog
// line whose tag is kernel, after a traditional ("Nov  2 10:30:00") or an
// RFC 3339 date and the host, with printk's time or without; or a line as
// dmesg shows it, starting with the time in brackets. The other lines of
// a system log come from programs, and any of them may write
// "SRC=... DPT=745" into its message (logger does, for anyone): from the
// line's start, a program's line has its own tag where "kernel:" must be.
const KernelLine = `^(?:(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?) \S+ kernel: (?:\[[^\]]*\] )?|\[[^\]]*\] )`

// KernelLOG is NetfilterLOG in a line the kernel wrote (KernelLine).
const KernelLOG = KernelLine + `[^\[]*?` + NetfilterLOG

// DefaultPatterns are the patterns used when the configuration names none.
// They read the kernel's LOG lines and, so, the lines a client writes with
// DefaultTemplate; a program's line never counts, whatever it says.
var DefaultPatterns = []string{KernelLOG}

// Warnings says which of patterns do not anchor at the start of a line
// (^), each a warning for the operator: such a pattern also matches the
// text a program writes into its own log line, so that any program
// writing to the log (logger, for any user) can knock.
func Warnings(patterns []string) []string {
	var out []string
	for _, p := range patterns {
		if !anchored(p) {
			out = append(out, fmt.Sprintf("pattern %q does not start at the line's start (^ then fixed text): any program that writes to the log can write a line it matches and knock; anchor it on what only the kernel (or your firewall's logger) writes, as the default does: ^DATE HOST kernel: ", p))
		}
	}
	return out
}

// anchored reports whether every match of pattern starts at the start of
// a line, followed by something other than a wildcard run (^.* anchors
// nothing).
func anchored(pattern string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return false
	}
	return startsAnchored(re.Simplify())
}

func startsAnchored(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !startsAnchored(sub) {
				return false
			}
		}
		return true
	case syntax.OpCapture:
		return startsAnchored(re.Sub[0])
	case syntax.OpConcat:
		if len(re.Sub) < 2 || !startsAnchored(re.Sub[0]) {
			return false
		}
		next := re.Sub[1]
		for next.Op == syntax.OpCapture {
			next = next.Sub[0]
		}
		wild := (next.Op == syntax.OpStar || next.Op == syntax.OpPlus || next.Op == syntax.OpRepeat) &&
			(next.Sub[0].Op == syntax.OpAnyChar || next.Sub[0].Op == syntax.OpAnyCharNotNL)
		return !wild
	case syntax.OpBeginText, syntax.OpBeginLine:
		return true
	}
	return false
}

// The named groups a pattern may have (package logline names them).
const (
	groupSrc   = logline.GroupSrc
	groupDport = logline.GroupDport
	groupDst   = logline.GroupDst
	groupProto = logline.GroupProto
	groupFlags = logline.GroupFlags
)

var knownGroups = []string{groupSrc, groupDport, groupDst, groupProto, groupFlags}

// Parser turns log lines into hits through a list of regular expressions;
// the first that matches a line decides it.
type Parser struct {
	pats     []pattern
	anyFlags map[uint16]bool // TCP ports where any flags make a hit: knockd's doors
}

// KeepFlags makes lines of TCP segments to ports hits whatever flags they
// show, not only SYNs: knockd's doors match on flags of their own. It must
// be called before the Parser is used.
func (p *Parser) KeepFlags(ports []uint16) {
	p.anyFlags = map[uint16]bool{}
	for _, port := range ports {
		p.anyFlags[port] = true
	}
}

// pattern is one compiled expression and where its groups are. A name may
// label several groups (alternatives); the first that took part counts.
type pattern struct {
	re                            *regexp.Regexp
	src, dport, dst, proto, flags []int
}

// NewParser compiles patterns (Go's RE2 syntax, unanchored unless they
// say ^ or $). Their named groups are:
//
//	src    required: the knocking address (IPv4, IPv6, ::ffff:a.b.c.d)
//	dport  required: the port knocked on, 0-65535
//	proto  optional: tcp or udp in any case; other protocols are not
//	       knocks; without it, tcp
//	dst    optional: the address knocked on; may match empty
//	flags  optional: TCP flags as words; when the line shows them, only
//	       a SYN without ACK is a knock
//
// A pattern that lacks a required group or names another is an error that
// names the pattern, so that a mistake stops start-up instead of silently
// matching nothing.
func NewParser(patterns []string) (*Parser, error) {
	if len(patterns) == 0 {
		return nil, errors.New("no patterns: give at least one regular expression with (?P<src>...) and (?P<dport>...)")
	}
	p := &Parser{}
	for _, text := range patterns {
		pt, err := compile(text)
		if err != nil {
			return nil, err
		}
		p.pats = append(p.pats, pt)
	}
	return p, nil
}

func compile(text string) (pattern, error) {
	re, err := regexp.Compile(text)
	if err != nil {
		return pattern{}, fmt.Errorf("pattern %q: %w", text, err)
	}
	pt := pattern{re: re}
	for i, name := range re.SubexpNames() {
		switch name {
		case "":
		case groupSrc:
			pt.src = append(pt.src, i)
		case groupDport:
			pt.dport = append(pt.dport, i)
		case groupDst:
			pt.dst = append(pt.dst, i)
		case groupProto:
			pt.proto = append(pt.proto, i)
		case groupFlags:
			pt.flags = append(pt.flags, i)
		default:
			return pattern{}, fmt.Errorf("pattern %q: unknown group %q: the groups are %s", text, name, strings.Join(knownGroups, ", "))
		}
	}
	var missing []string
	if pt.src == nil {
		missing = append(missing, "(?P<src>...) for the source address")
	}
	if pt.dport == nil {
		missing = append(missing, "(?P<dport>...) for the destination port")
	}
	if missing != nil {
		return pattern{}, fmt.Errorf("pattern %q lacks %s", text, strings.Join(missing, " and "))
	}
	return pt, nil
}

// Parse reads one line (without its newline). The hit it returns has no
// Time: the caller knows when the line arrived. The error is ErrUnmatched,
// ErrNotKnock, or wraps ErrBadField.
func (p *Parser) Parse(line []byte) (source.Hit, error) {
	for i := range p.pats {
		if m := p.pats[i].re.FindSubmatchIndex(line); m != nil {
			return p.pats[i].hit(line, m, p.anyFlags)
		}
	}
	return source.Hit{}, ErrUnmatched
}

func (pt *pattern) hit(line []byte, m []int, anyFlags map[uint16]bool) (source.Hit, error) {
	proto, ok := protocol(group(line, m, pt.proto))
	if !ok {
		return source.Hit{}, ErrNotKnock
	}
	h := source.Hit{Proto: proto}
	flags, shown := groupShown(line, m, pt.flags)
	if shown && proto == knock.TCP {
		h.TCPFlags = flagBits(flags)
	}
	var err error
	if h.Src, err = address(group(line, m, pt.src)); err != nil {
		return source.Hit{}, fmt.Errorf("%w: src: %w", ErrBadField, err)
	}
	if dst := group(line, m, pt.dst); dst != "" {
		if h.Dst, err = address(dst); err != nil {
			return source.Hit{}, fmt.Errorf("%w: dst: %w", ErrBadField, err)
		}
	}
	dport := group(line, m, pt.dport)
	port, err := strconv.ParseUint(dport, 10, 16)
	if err != nil {
		return source.Hit{}, fmt.Errorf("%w: dport %q is not a port (0-65535)", ErrBadField, dport)
	}
	h.Port = uint16(port)
	if shown && proto == knock.TCP && h.TCPFlags&(synBit|ackBit) != synBit && !anyFlags[h.Port] {
		return source.Hit{}, ErrNotKnock
	}
	return h, nil
}

// group is the text of the first group in idx that took part, or "".
func group(line []byte, m []int, idx []int) string {
	s, _ := groupShown(line, m, idx)
	return s
}

// groupShown is group, also saying whether any of the groups took part:
// an empty flags group ("RES=0x00 URGP=0") differs from no flags at all.
func groupShown(line []byte, m []int, idx []int) (string, bool) {
	for _, i := range idx {
		if m[2*i] >= 0 {
			return string(line[m[2*i]:m[2*i+1]]), true
		}
	}
	return "", false
}

// protocol maps the proto group to a hit's protocol; no group means TCP,
// the prototype's knocks.
func protocol(s string) (knock.Proto, bool) {
	switch {
	case s == "" || strings.EqualFold(s, string(knock.TCP)):
		return knock.TCP, true
	case strings.EqualFold(s, string(knock.UDP)):
		return knock.UDP, true
	}
	return "", false
}

// TCP flags as netfilter's LOG target writes them, and their bits.
const (
	synBit = 0x02
	ackBit = 0x10
)

var flagWords = map[string]uint8{"FIN": 0x01, "SYN": synBit, "RST": 0x04, "PSH": 0x08, "ACK": ackBit, "URG": 0x20}

// flagBits reads TCP flags written as words ("SYN", "ACK PSH"); other
// words (CWR, ECE) are skipped. Only SYN without ACK opens a connection: a
// SYN-ACK is the answer of a server, not a knock.
func flagBits(flags string) uint8 {
	var b uint8
	for _, w := range strings.Fields(strings.ToUpper(flags)) {
		b |= flagWords[w]
	}
	return b
}

// address parses an address as a hit carries it: IPv4 as 4 bytes, even
// when logged as ::ffff:a.b.c.d, and without an IPv6 zone (a log line has
// none; an address with one is not what the pattern was meant to read).
func address(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone", s)
	}
	return a.Unmap(), nil
}
