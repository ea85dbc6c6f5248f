package fwknop

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/fwknop/internal/fko"
)

// Defaults of the matcher.
const (
	// DefaultMaxAge is how far a packet's timestamp may be from now,
	// either way: fwknopd's MAX_SPA_PACKET_AGE.
	DefaultMaxAge = 120 * time.Second
	// DefaultMaxStanzas bounds the HMACs one packet can cost.
	DefaultMaxStanzas = 64
)

// Packet size limits: fwknopd's.
const (
	MinPacket    = fko.MinPacket
	MaxPacket    = fko.MaxPacket
	MinGPGPacket = fko.MinGPGPacket // unauthenticated and this long: taken for GnuPG
)

// Options tune a Matcher; zero values take the defaults.
type Options struct {
	MaxAge     time.Duration
	MaxStanzas int
}

// Matcher decides fwknop SPA packets against access.conf stanzas.
type Matcher struct {
	stanzas []Stanza
	maxAge  time.Duration
}

// NewMatcher builds a matcher. It refuses more stanzas than
// o.MaxStanzas: each stanza whose SOURCE admits a packet costs one HMAC,
// and none may be silently out of reach.
func NewMatcher(stanzas []Stanza, o Options) (*Matcher, error) {
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxStanzas <= 0 {
		o.MaxStanzas = DefaultMaxStanzas
	}
	if len(stanzas) > o.MaxStanzas {
		return nil, fmt.Errorf("%d access.conf stanzas: at most %d are tried per packet (each costs an HMAC)", len(stanzas), o.MaxStanzas)
	}
	if len(stanzas) == 0 {
		return nil, errors.New("no access.conf stanza")
	}
	return &Matcher{stanzas: stanzas, maxAge: o.MaxAge}, nil
}

// Access is what an accepted packet grants.
type Access struct {
	// Stanza is the access.conf stanza that authenticated the packet.
	Stanza *Stanza
	// Name names the access in logs: the packet's user name, "@", and
	// the stanza's position ("alice@/etc/fwknop/access.conf:12").
	Name string
	// User is the user name the client put in the packet.
	User string
	// Addr is the address to open the ports to.
	Addr netip.Addr
	// Ports are the ports asked for, each once, in the packet's order.
	Ports []knock.Port
	// Duration is how long to open them.
	Duration time.Duration
	// Timestamp is the client's clock when it built the packet.
	Timestamp time.Time
	// ReplayID identifies the packet for a replay cache: SHA-256 of the
	// payload without its HMAC. Keep it until ReplayUntil
	// (Timestamp + max age): after that, the packet is stale anyway.
	ReplayID    [32]byte
	ReplayUntil time.Time
}

// Match decides one UDP payload from src to dst at now. dst may be the
// zero Addr when unknown; stanzas with a DESTINATION then never match.
// The error, when not nil, is an *Error with the Reason.
func (m *Matcher) Match(payload []byte, src, dst netip.Addr, now time.Time) (*Access, error) {
	src, dst = src.Unmap(), dst.Unmap()
	switch {
	case len(payload) < fko.MinPacket || len(payload) > fko.MaxPacket:
		return nil, refuse(ReasonMalformed, "a payload of %d bytes: expected %d to %d", len(payload), fko.MinPacket, fko.MaxPacket)
	case !fko.IsB64(payload):
		return nil, refuse(ReasonMalformed, "the payload is not unpadded base64")
	case strings.HasPrefix(string(payload), fko.SaltedPrefix):
		return nil, refuse(ReasonPrefixed, "the payload starts with %q, which the client always strips", fko.SaltedPrefix)
	}
	text, st, pt, err := m.authenticate(string(payload), src, dst, now)
	if err != nil {
		return nil, err
	}
	if pt == nil {
		pt, err = fko.Decrypt(text, st.Key, st.Mode)
	}
	if err != nil {
		if errors.Is(err, fko.ErrDecrypt) {
			return nil, refuse(ReasonDecrypt, "%s: authentic, but %v: wrong KEY or ENCRYPTION_MODE", st.Pos, err)
		}
		return nil, refuse(ReasonMalformed, "%s: authentic, but %w", st.Pos, err)
	}
	msg, err := fko.Parse(pt)
	switch {
	case errors.Is(err, fko.ErrDigest):
		return nil, refuse(ReasonDigest, "%s: %w", st.Pos, err)
	case errors.Is(err, fko.ErrUnsupported):
		return nil, refuse(ReasonUnsupported, "%s: %w", st.Pos, err)
	case err != nil:
		return nil, refuse(ReasonMalformed, "%s: %w", st.Pos, err)
	}
	return m.grant(st, msg, text, src, now)
}

// authenticate finds the first stanza that admits the packet's addresses
// and whose HMAC verifies it, and returns the text before the HMAC. A
// legacy stanza without an HMAC key has only decryption to go by: the
// packet is tried with its key, and the plaintext is returned too.
func (m *Matcher) authenticate(payload string, src, dst netip.Addr, now time.Time) (string, *Stanza, []byte, error) {
	candidates, expired := 0, (*Stanza)(nil)
	for i := range m.stanzas {
		st := &m.stanzas[i]
		if !st.admits(src, dst) {
			continue
		}
		candidates++
		var text string
		var pt []byte
		if st.HMACKey == nil {
			var err error
			if pt, err = fko.Decrypt(payload, st.Key, st.Mode); err != nil {
				continue
			}
			text = payload
		} else {
			var ok bool
			if text, ok = fko.Verify(st.HMACDigest, st.HMACKey, payload); !ok {
				continue
			}
		}
		if !st.Expire.IsZero() && now.After(st.Expire) {
			if expired == nil {
				expired = st
			}
			continue
		}
		return text, st, pt, nil
	}
	switch {
	case expired != nil:
		return "", nil, nil, refuse(ReasonExpired, "%s: authentic, but the stanza expired at %s", expired.Pos, expired.Expire.UTC().Format(time.RFC3339))
	case candidates == 0:
		return "", nil, nil, refuse(ReasonSource, "no stanza's SOURCE (and DESTINATION) admits %s", src)
	case len(payload) >= fko.MinGPGPacket:
		return "", nil, nil, refuse(ReasonGPG, "no HMAC verifies, and %d bytes is GnuPG-sized: GnuPG-encrypted SPA is not supported", len(payload))
	}
	return "", nil, nil, refuse(ReasonAuth, "no HMAC verifies (%d stanzas tried)", candidates)
}

// grant applies the stanza's rules to an authentic message.
func (m *Matcher) grant(st *Stanza, msg fko.Message, text string, src netip.Addr, now time.Time) (*Access, error) {
	ts := time.Unix(msg.Timestamp, 0)
	if age := now.Sub(ts); age > m.maxAge || age < -m.maxAge {
		return nil, refuse(ReasonStale, "%s: timestamp %d is %s from now (at most %s either way)", st.Pos, msg.Timestamp, age.Round(time.Second), m.maxAge)
	}
	addr, ports, err := parseRequest(msg.Access)
	if errors.Is(err, errPortProto) {
		return nil, refuse(ReasonPort, "%s: %w", st.Pos, err)
	} else if err != nil {
		return nil, refuse(ReasonMalformed, "%s: %w", st.Pos, err)
	}
	if err := st.allows(ports); err != nil {
		return nil, refuse(ReasonPort, "%s: %w", st.Pos, err)
	}
	if st.RequireUser != "" && msg.User != st.RequireUser {
		return nil, refuse(ReasonUser, "%s: user %q, REQUIRE_USERNAME wants another", st.Pos, msg.User)
	}
	if addr.IsUnspecified() {
		if st.RequireSource {
			return nil, refuse(ReasonSource, "%s: the packet asks for its source address (-s), and REQUIRE_SOURCE_ADDRESS wants one named", st.Pos)
		}
		addr = src
	}
	d := st.AccessTimeout
	if msg.ClientTimeout > 0 {
		d = min(time.Duration(msg.ClientTimeout)*time.Second, st.MaxTimeout)
	}
	return &Access{
		Stanza:      st,
		Name:        msg.User + "@" + st.Pos.String(),
		User:        msg.User,
		Addr:        addr,
		Ports:       ports,
		Duration:    d,
		Timestamp:   ts,
		ReplayID:    sha256.Sum256([]byte(text)),
		ReplayUntil: ts.Add(m.maxAge),
	}, nil
}

// parseRequest reads the access request "ADDRESS,proto/port,...".
func parseRequest(s string) (netip.Addr, []knock.Port, error) {
	items := strings.Split(s, ",")
	if len(items) < 2 {
		return netip.Addr{}, nil, fmt.Errorf("access request %q: expected ADDRESS,proto/port", s)
	}
	addr, err := netip.ParseAddr(items[0])
	if err != nil || addr.Zone() != "" || addr.Is4In6() {
		return netip.Addr{}, nil, fmt.Errorf("access request address %q: expected an IPv4 or IPv6 address", items[0])
	}
	var ports []knock.Port
	for _, it := range items[1:] {
		proto, _, _ := strings.Cut(it, "/")
		if proto == "icmp" || proto == "none" {
			return netip.Addr{}, nil, fmt.Errorf("%q asks for %w: this daemon opens tcp and udp ports only", it, errPortProto)
		}
		p, err := parsePort(it)
		if err != nil || string(p.Proto) != proto {
			return netip.Addr{}, nil, fmt.Errorf("access request %q: expected tcp/PORT or udp/PORT", it)
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return addr, ports, nil
}

var errPortProto = errors.New("a protocol other than tcp and udp")

// allows checks every port asked for against RESTRICT_PORTS and
// OPEN_PORTS, as fwknopd's acc_check_port_access does.
func (s *Stanza) allows(ports []knock.Port) error {
	for _, p := range ports {
		if slices.Contains(s.RestrictPorts, p) {
			return fmt.Errorf("%s is in RESTRICT_PORTS", p)
		}
		if s.OpenPorts != nil && !slices.Contains(s.OpenPorts, p) {
			return fmt.Errorf("%s is not in OPEN_PORTS", p)
		}
	}
	return nil
}
