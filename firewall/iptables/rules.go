package iptables

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/portknock/knock"
)

// Comments that tag the backend's rules.
const (
	grantTag = "portknock-grant"
	guardTag = "portknock-guard"
	// Two spellings of the jump's tag, so that Setup can insert a jump at
	// the top and then delete the old one by its rule text.
	jumpTag      = "portknock-jump"
	jumpTagMoved = "portknock-jump-moved"
)

// dateLayout is the time match's --datestop, as iptables prints it (UTC).
const dateLayout = "2006-01-02T15:04:05"

// maxStop is the last --datestop iptables accepts (it refuses years after
// 2038).
var maxStop = time.Date(2038, 12, 31, 23, 59, 59, 0, time.UTC)

// grantRule is one grant as a rule: the source may reach the port until the
// end of the stop second.
type grantRule struct {
	addr  netip.Addr
	proto knock.Proto
	port  uint16
	stop  int64 // Unix seconds: the last second the rule matches
}

// end is when the rule stops matching.
func (g grantRule) end() time.Time { return time.Unix(g.stop+1, 0) }

func (g grantRule) sameTarget(o grantRule) bool {
	return g.addr == o.addr && g.proto == o.proto && g.port == o.port
}

// args is the rule exactly as "iptables -S" prints it back, so that a
// listed rule can be compared and deleted by its text.
func (g grantRule) args() []string {
	src := netip.PrefixFrom(g.addr, g.addr.BitLen()).String()
	return []string{"-s", src, "-p", string(g.proto), "-m", string(g.proto), "--dport", strconv.Itoa(int(g.port)),
		"-m", "time", "--datestop", time.Unix(g.stop, 0).UTC().Format(dateLayout),
		"-m", "comment", "--comment", grantTag, "-j", "ACCEPT"}
}

// parseGrant recognises a grant rule by its exact shape; any other rule,
// even one carrying the grant's comment, is not the backend's.
func parseGrant(args []string) (grantRule, bool) {
	if len(args) != 18 {
		return grantRule{}, false
	}
	pfx, err := netip.ParsePrefix(args[1])
	if err != nil || pfx.Bits() != pfx.Addr().BitLen() || pfx.Addr().Zone() != "" {
		return grantRule{}, false
	}
	port, err := strconv.ParseUint(args[7], 10, 16)
	if err != nil || port == 0 {
		return grantRule{}, false
	}
	stop, err := time.ParseInLocation(dateLayout, args[11], time.UTC)
	if err != nil {
		return grantRule{}, false
	}
	g := grantRule{addr: pfx.Addr(), proto: knock.Proto(args[3]), port: uint16(port), stop: stop.Unix()}
	if g.proto != "tcp" && g.proto != "udp" {
		return grantRule{}, false
	}
	// The shape, and every value written back the way it was read.
	return g, slices.Equal(g.args(), args)
}

// guardArgs are the guard rules for the protected ports, in order.
func guardArgs(ports []knock.Port) [][]string {
	var out [][]string
	for _, p := range ports {
		match := []string{"-p", string(p.Proto), "-m", string(p.Proto), "--dport", strconv.Itoa(int(p.Port))}
		out = append(out,
			concat(match, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-m", "comment", "--comment", guardTag, "-j", "ACCEPT"),
			concat(match, "-m", "comment", "--comment", guardTag, "-j", "DROP"))
	}
	return out
}

func concat(a []string, b ...string) []string {
	return append(append([]string{}, a...), b...)
}

// isGuard reports whether a rule carries the guard's comment.
func isGuard(args []string) bool { return hasComment(args, guardTag) }

func hasComment(args []string, tag string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--comment" && args[i+1] == tag {
			return true
		}
	}
	return false
}

// jumpArgs is the jump from INPUT to chain under one of the two tags.
func jumpArgs(chain, tag string) []string {
	return []string{"-m", "comment", "--comment", tag, "-j", chain}
}

// isJumpTo reports whether an INPUT rule ends in a jump to chain, whoever
// wrote it: Uninstall removes them all, or the chain could not go.
func isJumpTo(args []string, chain string) bool {
	n := len(args)
	return n >= 2 && (args[n-2] == "-j" || args[n-2] == "-g") && args[n-1] == chain
}
