package lab

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/portknock/knock/format"
)

// Limits on what one request may ask of the lab. They bound the work of a
// request, not what a knock may be: every knock the codec can make fits.
const (
	MaxBody    = 16 << 10 // bytes of a request body
	MaxPorts   = 2048     // ports in a pasted sequence
	MaxFields  = 32       // fields of a knock format
	MaxMinPort = 65535 - 255
)

// The field parsers return errors whose text is shown next to the field as
// is: lower case, the offending input quoted, a hint where one helps.

func parseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return a, fmt.Errorf("%q is not an IP address: write four numbers 0-255 with dots, such as 192.0.2.7", s)
	}
	if a = a.Unmap(); !a.Is4() {
		return a, fmt.Errorf("%s is an IPv6 address: the legacy knock carries IPv4 only", a)
	}
	return a, nil
}

// parseMask reads a prefix length ("24", "/24") or a netmask
// ("255.255.255.0") and returns the prefix length.
func parseMask(s string) (int, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "/")
	bad := fmt.Errorf("%q is not a mask: write a prefix length 0-32 (such as 24) or a netmask (such as 255.255.255.0)", s)
	if !strings.Contains(t, ".") {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 || n > 32 {
			return 0, bad
		}
		return n, nil
	}
	a, err := netip.ParseAddr(t)
	if err != nil || !a.Is4() {
		return 0, bad
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := bits.LeadingZeros32(^m)
	if ones < 32 && m<<ones != 0 {
		return 0, fmt.Errorf("%q is not a netmask: its one bits must come first, as in 255.255.255.0", s)
	}
	return ones, nil
}

// parseInt reads a decimal integer, saying what kind of number it wanted.
func parseInt(s, what string) (int, error) {
	t := strings.TrimSpace(s)
	n, err := strconv.Atoi(t)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is far too large for a %s", t, what)
		}
		return 0, fmt.Errorf("%q is not a number: a %s is a whole number", t, what)
	}
	return n, nil
}

// parseByte reads a one-byte value such as a flag.
func parseByte(s, what string) (int, error) {
	n, err := parseInt(s, what)
	switch {
	case err != nil:
		return 0, err
	case n < 0:
		return 0, fmt.Errorf("%d is negative: a %s is one byte, 0-255", n, what)
	case n > 255:
		return 0, fmt.Errorf("%d is more than 255: a %s is one byte, 0-255", n, what)
	}
	return n, nil
}

func parsePort(s string) (int, error) {
	n, err := parseInt(s, "port")
	switch {
	case err != nil:
		return 0, err
	case n < 0:
		return 0, fmt.Errorf("port %d is negative: ports are 0-65535", n)
	case n > 65535:
		return 0, fmt.Errorf("port %d is above 65535, the highest port there is", n)
	}
	return n, nil
}

// parseMinPort reads MINPORT and returns the span it stands for.
func parseMinPort(s string) (string, error) {
	n, err := parseInt(s, "minimum port")
	switch {
	case err != nil:
		return "", err
	case n < 0:
		return "", fmt.Errorf("minimum port %d is negative: ports are 0-65535", n)
	case n > MaxMinPort:
		return "", fmt.Errorf("minimum port %d leaves no room for 256 ports: it must be at most %d", n, MaxMinPort)
	}
	return fmt.Sprintf("%d-%d", n, n+255), nil
}

// parseFormat reads an explicit knock format, within the lab's limits.
func parseFormat(s string) (format.Format, error) {
	f, err := format.Parse(s)
	if err != nil {
		return f, err
	}
	if n := len(f.Fields()); n > MaxFields {
		return format.Format{}, fmt.Errorf("knock format of %d fields: the lab takes at most %d", n, MaxFields)
	}
	return f, nil
}

var aroundEquals = regexp.MustCompile(`\s*=\s*`)

// parseFlags reads extra flags, "FLAG2=7, FLAG3=1" or "2=7 3=1", in the
// order given.
func parseFlags(s string) (map[int]int, []int, error) {
	flags := map[int]int{}
	var order []int
	s = aroundEquals.ReplaceAllString(s, "=")
	for _, tok := range strings.FieldsFunc(s, isSeparator) {
		name, val, ok := strings.Cut(tok, "=")
		if !ok {
			return nil, nil, fmt.Errorf("%q: write each flag as FLAGn=value, such as FLAG2=7", tok)
		}
		num := strings.TrimPrefix(strings.ToUpper(name), "FLAG")
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > format.MaxFlag || strconv.Itoa(n) != num {
			return nil, nil, fmt.Errorf("%q is not a flag: flags are FLAG0 to FLAG%d", name, format.MaxFlag)
		}
		if _, dup := flags[n]; dup {
			return nil, nil, fmt.Errorf("FLAG%d is given twice", n)
		}
		v, err := parseByte(val, "flag")
		if err != nil {
			return nil, nil, fmt.Errorf("FLAG%d: %w", n, err)
		}
		flags[n] = v
		order = append(order, n)
	}
	return flags, order, nil
}

// parseIVValue reads an explicit IV: "hex:a1b2..." or its text, as the
// test vectors write it ("9137").
func parseIVValue(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%q is not hexadecimal: write hex: and two digits a byte, such as hex:a1b2c3d4e5f60718", s)
		}
		return b, nil
	}
	return []byte(s), nil
}

// parseSwitch reads a checkbox: "on" from a browser, true from JSON.
func parseSwitch(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "off", "false", "no", "0":
		return false, nil
	case "on", "true", "yes", "1":
		return true, nil
	}
	return false, fmt.Errorf("%q is not on or off", s)
}

// parseSequence reads a pasted knock: ports separated by commas, spaces or
// both.
func parseSequence(s string) ([]uint16, error) {
	parts := strings.FieldsFunc(s, isSeparator)
	if len(parts) == 0 {
		return nil, errors.New("paste a knock sequence: ports separated by commas or spaces")
	}
	if len(parts) > MaxPorts {
		return nil, fmt.Errorf("%d ports: the lab reads at most %d", len(parts), MaxPorts)
	}
	out := make([]uint16, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%q (number %d) is not a port number", p, i+1)
		case n < 0:
			return nil, fmt.Errorf("%d (number %d) is negative: ports are 0-65535", n, i+1)
		case n > 65535:
			return nil, fmt.Errorf("%d (number %d) is above 65535, the highest port there is", n, i+1)
		}
		out[i] = uint16(n)
	}
	return out, nil
}

func isSeparator(r rune) bool {
	return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
}
