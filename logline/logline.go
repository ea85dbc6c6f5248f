// Package logline is the firewall log line that knocks become when they
// are written to a log instead of sent: the template a client renders
// (the Perl prototype's fileformat, with _CLIENT_, _REMOTEPORT_ and the
// other fields) and the pattern a daemon reads it back with. Both ends
// use this one package, so they agree on the format.
package logline

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The named groups a daemon's pattern may have.
const (
	GroupSrc   = "src"   // required: the knocking address
	GroupDport = "dport" // required: the port knocked on
	GroupDst   = "dst"   // optional: the address knocked on
	GroupProto = "proto" // optional: tcp (default) or udp, any case
	GroupFlags = "flags" // optional: TCP flags as words (SYN ACK ...)
)

// The prototype client's fileformat fields. A template is one log line in
// which each field is replaced by its value for one knocked port.
const (
	FieldDate       = "_DATE_"       // when the client knocked, DateLayout
	FieldClient     = "_CLIENT_"     // the knocking address
	FieldRemote     = "_REMOTE_"     // the address knocked on
	FieldClientPort = "_CLIENTPORT_" // the knocking port
	FieldRemotePort = "_REMOTEPORT_" // the port knocked on
)

var fieldNames = []string{FieldDate, FieldClient, FieldRemote, FieldClientPort, FieldRemotePort}

// DateLayout is how Render writes _DATE_: the syslog timestamp, which
// has neither year nor zone (the daemon dates hits by their arrival).
const DateLayout = "Jan _2 15:04:05"

// DefaultTemplate is the client's default fileformat: a kernel LOG line
// for a TCP SYN, as iptables writes it to the system log. The daemon's
// DefaultPatterns read it, so a client and a daemon left at their defaults
// understand each other.
const DefaultTemplate = "_DATE_ localhost kernel: knock: IN=eth0 OUT= SRC=_CLIENT_ DST=_REMOTE_ " +
	"LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=TCP SPT=_CLIENTPORT_ DPT=_REMOTEPORT_ " +
	"WINDOW=64240 RES=0x00 SYN URGP=0"

// Fields are the values of one knocked port.
type Fields struct {
	Date       time.Time  // written in its own location
	Client     netip.Addr // the zero Addr writes as ""
	Remote     netip.Addr // the zero Addr writes as ""
	ClientPort uint16
	RemotePort uint16
}

// Render writes one log line: template with each field replaced. Text
// that is not a field, including unknown _WORDS_, is written as is.
func Render(template string, f Fields) string {
	var b strings.Builder
	for _, p := range split(template) {
		switch p.field {
		case "":
			b.WriteString(p.text)
		case FieldDate:
			b.WriteString(f.Date.Format(DateLayout))
		case FieldClient:
			b.WriteString(addrText(f.Client))
		case FieldRemote:
			b.WriteString(addrText(f.Remote))
		case FieldClientPort:
			b.WriteString(strconv.Itoa(int(f.ClientPort)))
		case FieldRemotePort:
			b.WriteString(strconv.Itoa(int(f.RemotePort)))
		}
	}
	return b.String()
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// What each field reads as, in a pattern. Addresses and ports are read by
// their characters only, so that text after a field ends it; the parser
// checks the values.
const (
	reAddr       = `[0-9A-Fa-f.:]+`
	reAddrOrNone = `[0-9A-Fa-f.:]*`
	rePort       = `[0-9]+`
	// reDate takes syslog (Nov 22 10:30:00), Perl's scalar localtime
	// (Sat Nov 22 10:30:00 2003) and RFC 3339 (2003-11-22T10:30:00.5+01:00).
	reDate = `(?:(?:[A-Z][a-z]{2} )?[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}(?: [0-9]{4})?` +
		`|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)`
)

// PatternFor turns a client's template into a pattern for the daemon that
// reads exactly the lines Render writes with it: the whole line, literal
// text as is, _CLIENT_ as the src group, _REMOTE_ as dst (possibly empty),
// _REMOTEPORT_ as dport and _DATE_ as any of the usual timestamps. A
// template needs _CLIENT_ and _REMOTEPORT_, fits on one line, and must
// separate its fields by some text, or a line could be read two ways.
func PatternFor(template string) (string, error) {
	if strings.ContainsAny(template, "\r\n") {
		return "", fmt.Errorf("template %q spans lines: a template is one log line", template)
	}
	if !utf8.ValidString(template) {
		return "", fmt.Errorf("template %q is not UTF-8", template)
	}
	var b strings.Builder
	b.WriteString("^")
	seen := map[string]bool{}
	prev := ""
	for _, p := range split(template) {
		if p.field != "" && prev != "" {
			return "", fmt.Errorf("template %q: %s and %s touch: put text between them", template, prev, p.field)
		}
		prev = p.field
		if p.field == "" {
			b.WriteString(regexp.QuoteMeta(p.text))
			continue
		}
		b.WriteString(fieldPattern(p.field, seen[p.field]))
		seen[p.field] = true
	}
	b.WriteString("$")
	for _, need := range []string{FieldClient, FieldRemotePort} {
		if !seen[need] {
			return "", fmt.Errorf("template %q has no %s: the daemon needs the client address and the knocked port", template, need)
		}
	}
	return b.String(), nil
}

// fieldPattern is the expression for one field; only its first occurrence
// is captured.
func fieldPattern(field string, again bool) string {
	capture := func(name, re string) string {
		if again {
			return "(?:" + re + ")"
		}
		return "(?P<" + name + ">" + re + ")"
	}
	switch field {
	case FieldClient:
		return capture(GroupSrc, reAddr)
	case FieldRemote:
		return capture(GroupDst, reAddrOrNone)
	case FieldRemotePort:
		return capture(GroupDport, rePort)
	case FieldClientPort:
		return rePort
	}
	return reDate
}

// piece is literal text, or a field when field is set.
type piece struct {
	field string
	text  string
}

// split cuts a template into literal text and fields, left to right.
func split(template string) []piece {
	var out []piece
	lit := 0
	for i := 0; i < len(template); i++ {
		if template[i] != '_' {
			continue
		}
		for _, name := range fieldNames {
			if strings.HasPrefix(template[i:], name) {
				if lit < i {
					out = append(out, piece{text: template[lit:i]})
				}
				out = append(out, piece{field: name})
				i += len(name) - 1
				lit = i + 1
				break
			}
		}
	}
	if lit < len(template) {
		out = append(out, piece{text: template[lit:]})
	}
	return out
}

// Ambiguous reports whether a field of template is followed by text that
// could continue it, so that a rendered line could be split two ways
// ("_CLIENTPORT_1" after port 2 reads as 21). Such templates are the
// writer's choice; the round trip cannot hold for them.
func Ambiguous(template string) bool {
	pieces := split(template)
	for i := 0; i+1 < len(pieces); i++ {
		next := pieces[i+1].text
		if pieces[i].field == "" || next == "" {
			continue
		}
		var continues string
		switch pieces[i].field {
		case FieldClient, FieldRemote:
			continues = "0123456789abcdefABCDEF.:"
		case FieldClientPort, FieldRemotePort:
			continues = "0123456789"
		case FieldDate: // fractions, zones, and a year after a space
			continues = "0123456789.:+-Z"
			if len(next) > 1 && next[0] == ' ' && strings.IndexByte("0123456789", next[1]) >= 0 {
				return true
			}
		}
		if strings.IndexByte(continues, next[0]) >= 0 {
			return true
		}
	}
	return false
}
