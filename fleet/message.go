package fleet

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/portknock/knock"
)

// Wire format constants, as docs/fleet.md names them.
const (
	magic      = "KFG1"
	kindGrant  = 1
	kindRevoke = 2
	headerLen  = 4 + 1 + 8 + 8 + 1 + 16 + 1 + 2 // magic..port
	tagLen     = sha256.Size
	maxName    = 255
	protoTCP   = 6
	protoUDP   = 17
	familyNone = 0
	familyV4   = 4
	familyV6   = 6
)

// Reasons a message from Redis is ignored; each is counted.
var (
	ErrMalformed = errors.New("malformed fleet message")
	ErrForged    = errors.New("fleet message signature does not verify")
	ErrStale     = errors.New("stale fleet message")
	ErrForeign   = errors.New("fleet message for another fleet or group")
)

// Grant is access one gate granted, for every gate of its group to apply.
type Grant struct {
	User   string      // who knocked; may be empty
	Addr   netip.Addr  // who may connect
	Proto  knock.Proto // knock.TCP or knock.UDP
	Port   uint16
	Until  time.Time // access ends
	Gate   string    // the gate that accepted the knock (set by Publish)
	Issued time.Time // when the gate signed it (set by Publish)
}

// Selector names the grants a revocation ends: all of one user, or all to
// one address. Exactly one of the two is set.
type Selector struct {
	User string
	Addr netip.Addr
}

func (s Selector) matches(g Grant) bool {
	if s.User != "" {
		return g.User == s.User
	}
	return s.Addr.IsValid() && g.Addr == s.Addr
}

func (s Selector) String() string {
	if s.User != "" {
		return fmt.Sprintf("user %q", s.User)
	}
	return "address " + s.Addr.String()
}

// message is one signed record: a grant or a revocation.
type message struct {
	kind   byte
	issued time.Time
	until  time.Time // grant: access ends; revocation: the tombstone ends
	addr   netip.Addr
	proto  knock.Proto
	port   uint16
	fleet  string
	group  string
	gate   string
	user   string
}

func (m message) grant() Grant {
	return Grant{User: m.user, Addr: m.addr, Proto: m.proto, Port: m.port,
		Until: m.until, Gate: m.gate, Issued: m.issued}
}

func (m message) selector() Selector { return Selector{User: m.user, Addr: m.addr} }

// seal encodes m canonically and appends its HMAC-SHA256 tag under key.
func seal(key []byte, m message) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	return tag(key, m.encode()), nil
}

// tag appends the HMAC-SHA256 of b under key.
func tag(key, b []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	return mac.Sum(b)
}

// encode is the canonical encoding of m, unchecked and untagged.
func (m message) encode() []byte {
	b := make([]byte, 0, headerLen+4+len(m.fleet)+len(m.group)+len(m.gate)+len(m.user)+tagLen)
	b = append(b, magic...)
	b = append(b, m.kind)
	b = binary.BigEndian.AppendUint64(b, uint64(m.issued.UnixMilli()))
	b = binary.BigEndian.AppendUint64(b, uint64(m.until.UnixMilli()))
	var a [16]byte
	switch {
	case !m.addr.IsValid():
		b = append(b, familyNone)
	case m.addr.Is4():
		b = append(b, familyV4)
		v4 := m.addr.As4()
		copy(a[:], v4[:])
	default:
		b = append(b, familyV6)
		a = m.addr.As16()
	}
	b = append(b, a[:]...)
	switch m.proto {
	case "":
		b = append(b, 0)
	case knock.TCP:
		b = append(b, protoTCP)
	case knock.UDP:
		b = append(b, protoUDP)
	}
	b = binary.BigEndian.AppendUint16(b, m.port)
	for _, s := range []string{m.fleet, m.group, m.gate, m.user} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

// open checks the tag of b under key (in constant time) and only then
// decodes it. It does not judge time, fleet or group: see accept.
func open(key, b []byte) (message, error) {
	var m message
	if len(b) < headerLen+4+tagLen || string(b[:4]) != magic {
		return m, fmt.Errorf("%w: %d bytes without the %q header", ErrMalformed, len(b), magic)
	}
	body, tag := b[:len(b)-tagLen], b[len(b)-tagLen:]
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(mac.Sum(nil), tag) {
		return m, ErrForged
	}
	m.kind = body[4]
	m.issued = time.UnixMilli(int64(binary.BigEndian.Uint64(body[5:13])))
	m.until = time.UnixMilli(int64(binary.BigEndian.Uint64(body[13:21])))
	family, a := body[21], body[22:38]
	switch family {
	case familyNone:
		if [16]byte(a) != [16]byte{} {
			return m, fmt.Errorf("%w: address bytes without an address family", ErrMalformed)
		}
	case familyV4:
		if [12]byte(a[4:]) != [12]byte{} {
			return m, fmt.Errorf("%w: IPv4 address with non-zero padding", ErrMalformed)
		}
		m.addr = netip.AddrFrom4([4]byte(a[:4]))
	case familyV6:
		m.addr = netip.AddrFrom16([16]byte(a))
	default:
		return m, fmt.Errorf("%w: address family %d", ErrMalformed, family)
	}
	switch body[38] {
	case 0:
	case protoTCP:
		m.proto = knock.TCP
	case protoUDP:
		m.proto = knock.UDP
	default:
		return m, fmt.Errorf("%w: protocol %d", ErrMalformed, body[38])
	}
	m.port = binary.BigEndian.Uint16(body[39:41])
	rest := body[headerLen:]
	for _, s := range []*string{&m.fleet, &m.group, &m.gate, &m.user} {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return m, fmt.Errorf("%w: truncated name", ErrMalformed)
		}
		*s, rest = string(rest[1:1+int(rest[0])]), rest[1+int(rest[0]):]
	}
	if len(rest) != 0 {
		return m, fmt.Errorf("%w: %d bytes after the names", ErrMalformed, len(rest))
	}
	return m, m.check()
}

// check enforces what seal writes and open accepts, so every accepted
// message has exactly one encoding.
func (m message) check() error {
	for _, s := range []string{m.fleet, m.group, m.gate} {
		if len(s) == 0 || len(s) > maxName {
			return fmt.Errorf("%w: name %q: want 1 to %d bytes", ErrMalformed, s, maxName)
		}
	}
	if len(m.user) > maxName {
		return fmt.Errorf("%w: user of %d bytes: want at most %d", ErrMalformed, len(m.user), maxName)
	}
	if m.issued.UnixMilli() <= 0 || !m.until.After(m.issued) {
		return fmt.Errorf("%w: until %s not after issued %s", ErrMalformed, m.until.UTC(), m.issued.UTC())
	}
	if m.addr.Is4In6() || m.addr.Zone() != "" {
		return fmt.Errorf("%w: address %q: want IPv4 unmapped or IPv6 without zone", ErrMalformed, m.addr)
	}
	switch m.kind {
	case kindGrant:
		if !m.addr.IsValid() || m.addr.IsUnspecified() || m.proto == "" || m.port == 0 {
			return fmt.Errorf("%w: grant needs an address, a protocol and a port", ErrMalformed)
		}
	case kindRevoke:
		if (m.user == "") == !m.addr.IsValid() || m.proto != "" || m.port != 0 {
			return fmt.Errorf("%w: revocation needs a user or an address, not both, and no port", ErrMalformed)
		}
	default:
		return fmt.Errorf("%w: kind %d", ErrMalformed, m.kind)
	}
	if m.proto != "" && m.proto != knock.TCP && m.proto != knock.UDP {
		return fmt.Errorf("%w: protocol %q", ErrMalformed, m.proto)
	}
	return nil
}
