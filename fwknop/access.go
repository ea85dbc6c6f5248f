package fwknop

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/conffile"
	"github.com/portknock/knock/fwknop/internal/fko"
)

// Limits of the access.conf reader.
const (
	maxIncludeDepth  = 3       // fwknopd's MAX_DEPTH: the root file counts as 1
	maxTimeoutSecond = 2 << 22 // fwknopd's RCHK_MAX_FW_TIMEOUT
	changeMe         = "__CHANGEME__"
)

// refused are variables fwknopd knows and this daemon will not honour,
// with the reason the error gives.
var refused = map[string]string{
	"ENABLE_CMD_EXEC":      "command execution is not supported by this daemon",
	"ENABLE_CMD_SUDO_EXEC": "command execution is not supported by this daemon",
	"FORCE_NAT":            "NAT forwarding is not supported by this daemon",
	"FORCE_SNAT":           "NAT forwarding is not supported by this daemon",
	"FORCE_MASQUERADE":     "NAT forwarding is not supported by this daemon",
	"DISABLE_DNAT":         "NAT forwarding is not supported by this daemon",
	"FORWARD_ALL":          "NAT forwarding is not supported by this daemon",
	"%include_keys":        "not supported by this daemon: put KEY_BASE64 and HMAC_KEY_BASE64 in the stanza",
}

// known lists the variables this reader takes, for "expected" in errors.
const known = "SOURCE, DESTINATION, OPEN_PORTS, RESTRICT_PORTS, KEY, KEY_BASE64, HMAC_KEY, HMAC_KEY_BASE64, " +
	"HMAC_DIGEST_TYPE, ENCRYPTION_MODE, FW_ACCESS_TIMEOUT, MAX_FW_TIMEOUT, REQUIRE_USERNAME, " +
	"REQUIRE_SOURCE_ADDRESS, REQUIRE_SOURCE, ACCESS_EXPIRE, ACCESS_EXPIRE_EPOCH, %include, %include_folder"

func refusal(name string) (string, bool) {
	if r, ok := refused[name]; ok {
		return r, true
	}
	switch {
	case strings.HasPrefix(name, "CMD_"):
		return "command execution is not supported by this daemon", true
	case strings.HasPrefix(name, "GPG_"):
		return "GnuPG-encrypted SPA is not supported by this daemon: use KEY_BASE64 and HMAC_KEY_BASE64", true
	}
	return "", false
}

// ReadAccess reads an fwknopd access.conf and the files it includes. A
// file that holds a key and that the group or others may read is refused.
func ReadAccess(path string) ([]Stanza, error) {
	p := &parser{open: openFile}
	if err := p.file(path, 1); err != nil {
		return nil, err
	}
	return p.result(path)
}

// ParseAccess parses access.conf text named name, without reading any
// other file: %include and %include_folder are errors here.
func ParseAccess(name string, data []byte) ([]Stanza, error) {
	p := &parser{}
	if err := p.parse(name, data, 1); err != nil {
		return nil, err
	}
	return p.result(name)
}

// openFile reads a file and says whether its mode lets others read it.
func openFile(path string) ([]byte, fs.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%q is not a regular file", path)
	}
	var b bytes.Buffer
	_, err = b.ReadFrom(f)
	return b.Bytes(), st.Mode().Perm(), err
}

type parser struct {
	open     func(string) ([]byte, fs.FileMode, error) // nil: no includes
	stanzas  []Stanza
	sawFiles []string
}

// stanzaState is the stanza a file is filling, and what it has set.
type stanzaState struct {
	i   int                     // index in parser.stanzas
	set map[string]conffile.Pos // variable → where it was set
}

func (p *parser) result(name string) ([]Stanza, error) {
	if len(p.stanzas) == 0 {
		return nil, fmt.Errorf("%s: no stanza: expected a SOURCE line", name)
	}
	return p.stanzas, nil
}

func (p *parser) file(path string, depth int) error {
	if p.open == nil {
		return fmt.Errorf("%q: includes are not read here", path)
	}
	if slices.Contains(p.sawFiles, path) {
		return fmt.Errorf("%s: included twice (an include loop?)", path)
	}
	p.sawFiles = append(p.sawFiles, path)
	data, mode, err := p.open(path)
	if err != nil {
		return fmt.Errorf("access file: %w", err)
	}
	if err := p.parse(path, data, depth); err != nil {
		return err
	}
	if mode&0o077 != 0 && holdsKey(data) {
		return fmt.Errorf("%s: mode %04o lets others read the keys it holds; it needs 0600 (chmod 600 %s)", path, mode, path)
	}
	return nil
}

// holdsKey reports whether access.conf text sets a key.
func holdsKey(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		name, _, _ := splitLine(line)
		if strings.HasPrefix(name, "KEY") || strings.HasPrefix(name, "HMAC_KEY") {
			return true
		}
	}
	return false
}

// splitLine cuts an access.conf line as fwknopd does: the first word
// (less a trailing colon), and the rest up to the first ';', trimmed.
// A blank line or one whose first non-blank character is '#' or ';'
// gives "".
func splitLine(line string) (name, value string, ok bool) {
	t := strings.TrimLeft(line, " \t\r")
	if t == "" || t[0] == '#' || t[0] == ';' {
		return "", "", false
	}
	i := strings.IndexAny(t, " \t")
	if i < 0 {
		return strings.TrimSuffix(strings.TrimRight(t, "\r"), ":"), "", true
	}
	name, value = t[:i], t[i+1:]
	if j := strings.IndexByte(value, ';'); j >= 0 {
		value = value[:j]
	}
	return strings.TrimSuffix(name, ":"), strings.TrimSpace(value), true
}

func (p *parser) parse(name string, data []byte, depth int) error {
	var cur *stanzaState
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64*1024)
	line := 0
	for sc.Scan() {
		line++
		pos := conffile.Pos{File: name, Line: line}
		v, val, ok := splitLine(sc.Text())
		if !ok {
			continue
		}
		if val == "" {
			return fmt.Errorf("%s: %s: expected a value after it", pos, v)
		}
		switch v {
		case "%include", "%include_folder":
			if err := p.include(pos, v, val, depth); err != nil {
				return err
			}
			continue
		case "SOURCE":
			if cur != nil {
				if err := p.finish(cur); err != nil {
					return err
				}
			}
			p.stanzas = append(p.stanzas, Stanza{
				Pos: pos, Mode: CBC, HMACDigest: DefaultHMACDigest,
				AccessTimeout: DefaultAccessTimeout, MaxTimeout: DefaultMaxTimeout,
			})
			cur = &stanzaState{i: len(p.stanzas) - 1, set: map[string]conffile.Pos{}}
		}
		if why, no := refusal(v); no {
			return fmt.Errorf("%s: %s: %s", pos, v, why)
		}
		if cur == nil {
			return fmt.Errorf("%s: %s before any SOURCE: expected SOURCE to start a stanza", pos, v)
		}
		if err := p.set(cur, pos, v, val); err != nil {
			return fmt.Errorf("%s: %w", pos, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if cur != nil {
		return p.finish(cur)
	}
	return nil
}

func (p *parser) include(pos conffile.Pos, v, val string, depth int) error {
	if p.open == nil {
		return fmt.Errorf("%s: %s: includes are not read here", pos, v)
	}
	if depth >= maxIncludeDepth {
		return fmt.Errorf("%s: %s %q: includes nest at most %d deep", pos, v, val, maxIncludeDepth)
	}
	path := val
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(pos.File), path)
	}
	if v == "%include" {
		if err := p.file(path, depth+1); err != nil {
			return fmt.Errorf("%s: %w", pos, err)
		}
		return nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", pos, v, err)
	}
	for _, e := range ents { // ReadDir sorts by name
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".conf") {
			continue
		}
		if err := p.file(filepath.Join(path, e.Name()), depth+1); err != nil {
			return fmt.Errorf("%s: %w", pos, err)
		}
	}
	return nil
}

// set applies one variable to the stanza being filled.
func (p *parser) set(cur *stanzaState, pos conffile.Pos, v, val string) error {
	s := &p.stanzas[cur.i]
	group := v
	switch v {
	case "KEY_BASE64":
		group = "KEY"
	case "HMAC_KEY_BASE64":
		group = "HMAC_KEY"
	case "REQUIRE_SOURCE":
		group = "REQUIRE_SOURCE_ADDRESS"
	}
	if prev, dup := cur.set[group]; dup {
		return fmt.Errorf("%s: already set for this stanza at %s: expected one", v, prev)
	}
	cur.set[group] = pos
	var err error
	switch v {
	case "SOURCE":
		s.Sources, err = parseNetworks(val)
	case "DESTINATION":
		s.Destinations, err = parseNetworks(val)
	case "OPEN_PORTS":
		s.OpenPorts, err = parsePorts(val)
	case "RESTRICT_PORTS":
		s.RestrictPorts, err = parsePorts(val)
	case "KEY", "KEY_BASE64":
		s.Key, err = parseKey(v, val, fko.MaxKey)
	case "HMAC_KEY", "HMAC_KEY_BASE64":
		s.HMACKey, err = parseKey(v, val, fko.MaxHMACKey)
	case "HMAC_DIGEST_TYPE":
		d, ok := fko.ParseDigest(val)
		if !ok {
			return fmt.Errorf("HMAC_DIGEST_TYPE %q: expected one of md5, sha1, sha256, sha384, sha512, sha3_256, sha3_512", val)
		}
		s.HMACDigest = d
	case "ENCRYPTION_MODE":
		switch strings.ToLower(val) {
		case "cbc":
			s.Mode = CBC
		case "legacy":
			s.Mode = Legacy
		case "asymmetric":
			return fmt.Errorf("ENCRYPTION_MODE %q: GnuPG is not supported by this daemon: expected CBC or legacy", val)
		default:
			return fmt.Errorf("ENCRYPTION_MODE %q: expected CBC or legacy (the fwknop client's modes for Rijndael)", val)
		}
	case "FW_ACCESS_TIMEOUT":
		s.AccessTimeout, err = parseSeconds(v, val)
	case "MAX_FW_TIMEOUT":
		s.MaxTimeout, err = parseSeconds(v, val)
	case "REQUIRE_USERNAME":
		s.RequireUser = val
	case "REQUIRE_SOURCE_ADDRESS", "REQUIRE_SOURCE":
		s.RequireSource, err = parseBool(v, val)
	case "ACCESS_EXPIRE":
		s.Expire, err = parseDate(val)
	case "ACCESS_EXPIRE_EPOCH":
		n, perr := strconv.ParseInt(val, 10, 64)
		if perr != nil || n < 0 {
			return fmt.Errorf("ACCESS_EXPIRE_EPOCH %q: expected Unix seconds", val)
		}
		s.Expire = time.Unix(n, 0)
	default:
		return fmt.Errorf("unknown variable %q: expected one of %s", v, known)
	}
	return err
}

// finish checks a stanza once all its lines are read.
func (p *parser) finish(cur *stanzaState) error {
	s := &p.stanzas[cur.i]
	switch {
	case s.Key == nil:
		return fmt.Errorf("%s: the stanza has no KEY or KEY_BASE64: expected the Rijndael key", s.Pos)
	case s.HMACKey == nil && s.Mode != Legacy:
		return fmt.Errorf("%s: the stanza has no HMAC_KEY or HMAC_KEY_BASE64: this daemon authenticates every packet before it decrypts it (only ENCRYPTION_MODE legacy, for clients that cannot send an HMAC, goes without)", s.Pos)
	case s.HMACKey == nil:
		return nil
	case bytes.Equal(fko.PassPhrase(s.Key, s.Mode), s.HMACKey) || bytes.Equal(s.Key, s.HMACKey):
		return fmt.Errorf("%s: the Rijndael and HMAC keys are the same: expected two different keys", s.Pos)
	}
	return nil
}

func parseNetworks(val string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(val, ",") {
		item = strings.TrimSpace(item)
		if strings.EqualFold(item, "ANY") {
			out = append(out, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
			continue
		}
		p, err := parseNetwork(item)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseNetwork(item string) (netip.Prefix, error) {
	bad := fmt.Errorf("%q: expected ANY, an address or a network (192.0.2.0/24, 192.0.2.0/255.255.255.0, 2001:db8::/32)", item)
	addr, mask, hasMask := strings.Cut(item, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, bad
	}
	a = a.Unmap()
	bits := a.BitLen()
	if hasMask {
		if m, err := netip.ParseAddr(mask); err == nil && a.Is4() && m.Is4() {
			if bits, err = maskBits(m); err != nil {
				return netip.Prefix{}, fmt.Errorf("%q: %w", item, err)
			}
		} else if n, err := strconv.Atoi(mask); err == nil && n >= 0 && n <= a.BitLen() && mask == strconv.Itoa(n) {
			bits = n
		} else {
			return netip.Prefix{}, bad
		}
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

func maskBits(m netip.Addr) (int, error) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&0x80000000 != 0 {
		v <<= 1
		n++
	}
	if v != 0 {
		return 0, errors.New("the mask is not contiguous")
	}
	return n, nil
}

func parsePorts(val string) ([]knock.Port, error) {
	var out []knock.Port
	for _, item := range strings.Split(val, ",") {
		p, err := parsePort(strings.TrimSpace(item))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePort(item string) (knock.Port, error) {
	protoText, num, ok := strings.Cut(item, "/")
	n, err := strconv.Atoi(num)
	proto := knock.Proto(strings.ToLower(protoText))
	if !ok || err != nil || n < 1 || n > 65535 || num != strconv.Itoa(n) || (proto != knock.TCP && proto != knock.UDP) {
		return knock.Port{}, fmt.Errorf("%q: expected tcp/PORT or udp/PORT, PORT 1 to 65535", item)
	}
	return knock.Port{Proto: proto, Port: uint16(n)}, nil
}

// parseKey reads a key; errors never quote it.
func parseKey(v, val string, max int) ([]byte, error) {
	if strings.EqualFold(val, changeMe) {
		return nil, fmt.Errorf("%s is still %s: expected a key (fwknop --key-gen makes one)", v, changeMe)
	}
	k := []byte(val)
	if strings.HasSuffix(v, "_BASE64") {
		var err error
		if k, err = base64.StdEncoding.DecodeString(val); err != nil {
			if k, err = base64.RawStdEncoding.DecodeString(val); err != nil {
				return nil, fmt.Errorf("%s: expected base64 (the key is not quoted here)", v)
			}
		}
	}
	if len(k) < 1 || len(k) > max {
		return nil, fmt.Errorf("%s: a key of %d bytes: expected 1 to %d", v, len(k), max)
	}
	return k, nil
}

func parseSeconds(v, val string) (time.Duration, error) {
	n, err := strconv.Atoi(val)
	if err != nil || n < 1 || n > maxTimeoutSecond {
		return 0, fmt.Errorf("%s %q: expected seconds, 1 to %d", v, val, maxTimeoutSecond)
	}
	return time.Duration(n) * time.Second, nil
}

func parseBool(v, val string) (bool, error) {
	switch val[0] {
	case 'Y', 'y':
		return true, nil
	case 'N', 'n':
		return false, nil
	}
	return false, fmt.Errorf("%s %q: expected Y or N", v, val)
}

// parseDate reads ACCESS_EXPIRE's MM/DD/YYYY: the stanza ends at local
// midnight starting that day, as fwknopd's mktime() makes it.
func parseDate(val string) (time.Time, error) {
	t, err := time.ParseInLocation("1/2/2006", val, time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("ACCESS_EXPIRE %q: expected MM/DD/YYYY", val)
	}
	return t, nil
}
