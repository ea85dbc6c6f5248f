package lab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portknock/knock/sealed"
)

// The sealed knock's fields as the form gives them. Each reader records
// its error under its field and notes what it chose for the person.

// readMessage reads what a sealed knock asks for: address, port,
// protocol, duration, open or close, time and nonce. The time defaults to
// the lab's clock and the nonce to a random one.
func (l *Lab) readMessage(f Form, errs Errors, notes *[]string) sealed.Message {
	var m sealed.Message
	m.Client = readClient(f.IP, errs, notes)
	m.Implicit = readSwitch(f, "implicit", errs)
	m.Port = readSealedPort(f, errs)
	switch p := strings.ToLower(strings.TrimSpace(f.Proto)); p {
	case "", sealed.TCP:
		m.Proto = sealed.TCP
	case sealed.UDP:
		m.Proto = sealed.UDP
	default:
		errs.add("proto", "%q is not a protocol: a sealed knock opens tcp or udp", f.Proto)
	}
	m.Close = readSwitch(f, "close", errs)
	m.Duration = readDuration(f, m.Close, errs, notes)
	m.Time = l.readTimestamp(f.Timestamp, errs, notes)
	m.Nonce = l.readNonce(f.Nonce, strings.TrimSpace(f.User) != "", errs, notes)
	return m
}

func readSwitch(f Form, field string, errs Errors) bool {
	on, err := parseSwitch(*f.field(field))
	if err != nil {
		errs.add(field, "%v", err)
	}
	return on
}

// readClient reads the client address: IPv4 or IPv6, as the message
// carries it.
func readClient(s string, errs Errors, notes *[]string) netip.Addr {
	if strings.TrimSpace(s) == "" {
		errs.add("ip", "required: the address to open for (with implicit ticked, the source address the daemon will see)")
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	switch {
	case err != nil:
		errs.add("ip", "%q is not an IP address: write an IPv4 address such as 192.0.2.7, or an IPv6 one such as 2001:db8::7", s)
	case a.Zone() != "":
		errs.add("ip", "%s has a zone, which a knock cannot carry: leave out the %%%s", a, a.Zone())
	case a.Unmap().IsUnspecified():
		errs.add("ip", "%s opens for nobody: write the client's address (tick implicit to bind the packet's source instead)", a)
	case a.Is4In6():
		*notes = append(*notes, fmt.Sprintf("%s is an IPv4 address written as IPv6: it is sealed as %s", a, a.Unmap()))
	}
	return a.Unmap()
}

// readSealedPort reads the port to open: the custom port, or the service.
func readSealedPort(f Form, errs Errors) uint16 {
	field, text := "port", f.Port
	if strings.TrimSpace(text) == "" {
		field, text = "service", f.Service
	}
	if strings.TrimSpace(text) == "" {
		errs.add("port", "required: choose a service or type a port")
		return 0
	}
	p, err := parsePort(text)
	switch {
	case err != nil:
		errs.add(field, "%v", err)
	case p == 0:
		errs.add(field, "port 0 cannot be opened: a sealed knock asks for a port from 1 to 65535")
	}
	return uint16(p)
}

type durationUnit struct {
	name string
	d    time.Duration
}

// units are the duration's units, as docs/sealed.md codes them: unit i
// is bits 7-6 of the duration byte.
var units = [...]durationUnit{{"seconds", time.Second}, {"minutes", time.Minute}, {"hours", time.Hour}, {"days", 24 * time.Hour}}

// durationCount is the largest count of one unit a message carries.
const durationCount = 63

// readDuration reads a count and its unit (minutes when none is chosen).
// A duration that no message carries exactly is rounded up, as
// sealed.RoundDuration does, and the notes say so.
func readDuration(f Form, closing bool, errs Errors, notes *[]string) time.Duration {
	unit, ok := unitOf(f.Unit)
	if !ok {
		errs.add("unit", "%q is not a unit: seconds, minutes, hours or days", f.Unit)
		return 0
	}
	text := strings.TrimSpace(f.Duration)
	if text == "" {
		return 0
	}
	n, err := parseInt(text, "duration")
	switch {
	case err != nil:
		errs.add("duration", "%v", err)
		return 0
	case n < 0:
		errs.add("duration", "%d is negative: a duration is 1-63 %s, or 0 for the daemon's default", n, unit.name)
		return 0
	case closing && n != 0:
		*notes = append(*notes, "a close carries no duration: the duration is not sent")
		return 0
	}
	d := time.Duration(n) * unit.d
	if n > int(sealed.MaxDuration/unit.d) {
		errs.add("duration", "%d %s is more than 63 days, the longest a knock asks for", n, unit.name)
		return 0
	}
	if r := sealed.RoundDuration(d); r != d {
		c, u := splitDuration(r)
		*notes = append(*notes, fmt.Sprintf("%d %s cannot be sealed: a knock carries 1-63 seconds, minutes, hours or days; it asks for %d %s, the shortest duration above", n, unit.name, c, units[u].name))
		return r
	}
	if c, u := splitDuration(d); units[u] != unit {
		*notes = append(*notes, fmt.Sprintf("%d %s is sealed as %d %s, the coarsest unit that holds it exactly", n, unit.name, c, units[u].name))
	}
	return d
}

func unitOf(s string) (durationUnit, bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return units[1], true
	}
	for _, u := range units {
		if t == u.name || t == u.name[:len(u.name)-1] || t == u.name[:1] {
			return u, true
		}
	}
	return units[0], false
}

// splitDuration writes a duration a message carries as a count and a
// unit, the coarsest that holds it exactly; 0 is 0 minutes.
func splitDuration(d time.Duration) (int, int) {
	for u := len(units) - 1; u >= 0; u-- {
		if n := d / units[u].d; d > 0 && d%units[u].d == 0 && n <= durationCount {
			return int(n), u
		}
	}
	return 0, 1
}

// durationCode is the duration's byte in the body: unit in bits 7-6,
// count in bits 5-0, 0 for the daemon's default.
func durationCode(d time.Duration) byte {
	n, u := splitDuration(d)
	if n == 0 {
		return 0
	}
	return byte(u<<6 | n)
}

// readTimestamp reads the time to seal, in Unix seconds or RFC 3339; the
// lab's clock when empty.
func (l *Lab) readTimestamp(s string, errs Errors, notes *[]string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		now := l.now().UTC().Truncate(time.Second)
		*notes = append(*notes, "sealed at the lab's clock, "+now.Format(time.RFC3339)+": write a time under advanced to seal another")
		return now
	}
	t, err := parseTimestamp(s)
	if err != nil {
		errs.add("timestamp", "%v", err)
	}
	return t
}

// Timestamps the lab takes: the years 1970 to 9999.
const (
	minTimestamp = 0
	maxTimestamp = 253402300799
)

func parseTimestamp(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < minTimestamp || n > maxTimestamp {
			return time.Time{}, fmt.Errorf("%d is outside the years 1970 to 9999", n)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Unix() < minTimestamp || t.Unix() > maxTimestamp {
		return time.Time{}, fmt.Errorf("%q is not a time: write Unix seconds (1767225600) or RFC 3339 (2026-01-01T00:00:00Z)", s)
	}
	return t.UTC().Truncate(time.Second), nil
}

// readNonce reads the nonce, or draws one: 14 bits in version 1, 16 in
// version 2.
func (l *Lab) readNonce(s string, v2 bool, errs Errors, notes *[]string) uint16 {
	most, bits := sealed.MaxNonce, sealed.NonceBits
	if v2 {
		most, bits = 1<<16-1, 16
	}
	if strings.TrimSpace(s) == "" {
		b, err := l.draw(2)
		if err != nil {
			errs.add("form", "%v", err)
			return 0
		}
		n := binary.BigEndian.Uint16(b) & uint16(most)
		*notes = append(*notes, fmt.Sprintf("nonce %d drawn at random: write it under advanced, with the time, to make this knock again", n))
		return n
	}
	n, err := parseInt(s, "nonce")
	switch {
	case err != nil:
		errs.add("nonce", "%v", err)
	case n < 0 || n > most:
		errs.add("nonce", "%d is outside 0-%d: the nonce has %d bits", n, most, bits)
	}
	return uint16(n)
}
