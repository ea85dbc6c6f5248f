package fwknop

import (
	"net/netip"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/conffile"
	"github.com/portknock/knock/fwknop/internal/fko"
)

// Mode is a Rijndael encryption mode (access.conf ENCRYPTION_MODE).
type Mode = fko.Mode

// The modes this daemon serves.
const (
	CBC    = fko.CBC
	Legacy = fko.Legacy
)

// Digest is an HMAC digest type (access.conf HMAC_DIGEST_TYPE).
type Digest = fko.Digest

// The digests, all of which the 2.6 client can send.
const (
	MD5      = fko.MD5
	SHA1     = fko.SHA1
	SHA256   = fko.SHA256
	SHA384   = fko.SHA384
	SHA512   = fko.SHA512
	SHA3_256 = fko.SHA3_256
	SHA3_512 = fko.SHA3_512
)

// Defaults of fwknopd's access.conf.
const (
	DefaultAccessTimeout = 30 * time.Second  // FW_ACCESS_TIMEOUT
	DefaultMaxTimeout    = 300 * time.Second // MAX_FW_TIMEOUT
	DefaultHMACDigest    = SHA256
)

// Stanza is one access.conf stanza: from a SOURCE line to the next.
type Stanza struct {
	// Pos is the file and line of the stanza's SOURCE.
	Pos conffile.Pos
	// Sources are the networks the packet may come from (ANY is 0.0.0.0/0
	// and ::/0). Destinations are those it may be sent to; nil is any.
	Sources, Destinations []netip.Prefix
	// OpenPorts, when not nil, are the only ports a client may ask for;
	// RestrictPorts are ports it may never ask for.
	OpenPorts, RestrictPorts []knock.Port
	// Key is the Rijndael key as configured (legacy mode shapes it when
	// it is used); HMACKey the HMAC key. Never log them.
	Key, HMACKey []byte
	Mode         Mode
	HMACDigest   Digest
	// AccessTimeout is granted when the client asks for no time;
	// MaxTimeout caps what a client asks for.
	AccessTimeout, MaxTimeout time.Duration
	// RequireUser, when set, is the only user name accepted.
	RequireUser string
	// RequireSource refuses packets that ask for "the packet's source"
	// (0.0.0.0, the client's -s) instead of naming an address.
	RequireSource bool
	// Expire, when not zero, is when the stanza stops granting access.
	Expire time.Time
}

// String names the stanza by its position; it never shows a key.
func (s Stanza) String() string { return "stanza at " + s.Pos.String() }

// GoString keeps keys out of %#v too.
func (s Stanza) GoString() string { return s.String() }

func (s *Stanza) admits(src, dst netip.Addr) bool {
	if !inAny(s.Sources, src) {
		return false
	}
	if s.Destinations == nil {
		return true
	}
	if !dst.IsValid() { // unknown: only DESTINATION ANY admits it
		return inAny(s.Destinations, netip.IPv4Unspecified()) && inAny(s.Destinations, netip.IPv6Unspecified()) &&
			inAny(s.Destinations, netip.MustParseAddr("255.255.255.255")) && inAny(s.Destinations, netip.MustParseAddr("ffff::"))
	}
	return inAny(s.Destinations, dst)
}

func inAny(ps []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
