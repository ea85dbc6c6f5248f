// Package legacy turns knock parameters into a sequence of ports and back,
// byte for byte as the Perl port-knocking prototype (v0.30) did, so that
// knocks made by its knockclient decode here and the other way round.
//
// A knock travels in three steps, each its own package:
//
//  1. format: the fields of the knock (CLIENT, PORT, FLAGn, RAND, THIS*,
//     CHECKSUM) are laid out as bytes;
//  2. cbc: the bytes are encrypted as Perl's Crypt::CBC did (Blowfish, DES,
//     IDEA, Twofish or Rijndael, CBC, PKCS#5, MD5 key derivation), with the
//     fixed IV or a RandomIV header, or left as they are;
//  3. portspan: the result is cut into groups of N bits, each naming one
//     port of a span of 2^N ports.
//
// Encoding the first vector of the compatibility notes (docs/compat.md):
//
//	c, _ := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM",
//		Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
//	ports, _ := c.Encode(legacy.Values{Client: netip.MustParseAddr("142.103.205.1"),
//		Port: 22, Flags: map[int]int{0: 15}})
//	fmt.Println(ports) // [966 914 795 964 831 862 807 932]
//
// This legacy knock is what the prototype made, weaknesses included: CBC
// without a MAC can be altered without the key, a random sequence passes
// padding and checksum now and then, and a captured knock can be replayed.
// The daemon guards against what it can (protected-port lists, replay
// cache, time windows); new deployments should prefer package sealed.
package legacy

import (
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/portspan"
)

// Values are the contents of a knock; see package format.
type Values = format.Values

// Config describes a legacy knock as the prototype's configuration did.
type Config struct {
	Format string // knock: "CLIENT,PORT,FLAG0,CHECKSUM"
	Cipher string // Blowfish, DES, IDEA, Twofish, Rijndael (AES); "" or "none" for no encryption
	Key    string // the passphrase
	IV     bool   // iv = yes: a random IV, carried after a RandomIV header
	Span   string // portspan: "745-1000"

	// Rand supplies RAND fields and IVs; crypto/rand when nil.
	Rand io.Reader
	// Now supplies the time for THIS* fields; time.Now when nil.
	Now func() time.Time
	// Location is the time zone of THIS* fields; the clock's own when nil.
	// The prototype used local time, so client and daemon must agree.
	Location *time.Location
}

// Codec encodes and decodes knocks of one configuration. Its cipher key
// schedule is prepared once, in New. It is safe for concurrent use.
type Codec struct {
	format format.Format
	cipher *cbc.Cipher // nil: no encryption
	iv     bool
	span   *portspan.Span
	rand   io.Reader
	now    func() time.Time
	loc    *time.Location

	// byPorts maps a sequence length to the byte lengths it can carry.
	byPorts map[int][]int
	lengths []int
	// headerOnly marks sequence lengths that only a RandomIV knock has.
	headerOnly map[int]bool
}

// New checks cfg and prepares a codec.
func New(cfg Config) (*Codec, error) {
	f, err := format.Parse(cfg.Format)
	if err != nil {
		return nil, err
	}
	span, err := portspan.Parse(cfg.Span)
	if err != nil {
		return nil, err
	}
	c := &Codec{format: f, span: span, iv: cfg.IV, rand: cfg.Rand, now: cfg.Now, loc: cfg.Location}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	if c.now == nil {
		c.now = time.Now
	}
	if name := strings.TrimSpace(cfg.Cipher); name != "" && !strings.EqualFold(name, "none") {
		if cfg.Key == "" {
			return nil, fmt.Errorf("cipher %s needs a key", name)
		}
		if c.cipher, err = cbc.New(name, cfg.Key); err != nil {
			return nil, err
		}
	} else if cfg.IV {
		return nil, fmt.Errorf("an IV needs encryption: set a cipher or iv = no")
	}
	c.indexLengths()
	return c, nil
}

// indexLengths lists every byte length a knock of this codec can have, and
// the number of ports each takes.
func (c *Codec) indexLengths() {
	c.byPorts = make(map[int][]int)
	c.headerOnly = make(map[int]bool)
	add := func(nbytes int, header bool) {
		n := c.span.Ports(nbytes)
		if _, seen := c.byPorts[n]; !seen {
			c.headerOnly[n] = header
		}
		c.headerOnly[n] = c.headerOnly[n] && header
		c.byPorts[n] = append(c.byPorts[n], nbytes)
	}
	if c.cipher == nil {
		add(c.format.Len(), false)
	} else {
		sealed := c.cipher.CiphertextLen(c.format.Len())
		add(sealed, false)
		for l := 1; l <= c.cipher.BlockSize(); l++ {
			add(len(cbc.Header)+l+sealed, true)
		}
	}
	for n := range c.byPorts {
		c.lengths = append(c.lengths, n)
	}
	slices.Sort(c.lengths)
}

// RandomIV reports whether knocks of this codec carry a random IV (iv = yes).
func (c *Codec) RandomIV() bool { return c.iv }

// Format returns the knock format.
func (c *Codec) Format() format.Format { return c.format }

// Span returns the port span.
func (c *Codec) Span() *portspan.Span { return c.span }

// Cipher returns the cipher's canonical name, or "none".
func (c *Codec) Cipher() string {
	if c.cipher == nil {
		return "none"
	}
	return c.cipher.Name()
}

// Lengths returns, in increasing order, every number of ports a valid
// knock of this codec can have: the fixed-IV form, and each IV length of
// the RandomIV form, which decoding always accepts.
func (c *Codec) Lengths() []int { return append([]int(nil), c.lengths...) }
