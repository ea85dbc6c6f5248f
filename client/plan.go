package client

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
)

// plan is a checked configuration, ready to build knocks from: every
// setting has been read and its meaning checked, remote resolved once and
// the client address chosen.
type plan struct {
	mode  string
	codec *legacy.Codec  // legacy
	key   *sealed.Key    // sealed
	v2    *sealed.Sender // sealed, with user or server set: version 2
	span  *portspan.Span
	msg   sealed.Message // sealed: all but the time
	spa   uint16         // sealed: the SPA port, 0 for a knock over the span

	port    int
	flags   map[int]int
	proto   string
	gap     time.Duration
	test    bool
	fileOut bool
	logfile string

	remote   netip.Addr // zero when not set
	client   netip.Addr // zero when no knock field or log line needs it
	implicit bool       // client = source: sealed without the address, bound to the packet's source

	verify   bool
	retries  int
	verifyAt netip.AddrPort
}

func (c *Client) plan(ctx context.Context) (*plan, error) {
	s := c.s
	p := &plan{test: s.Bool("test"), fileOut: s.Bool("logtofile"), gap: s.Duration("timeout"), flags: s.Flags(), logfile: s.Path("logfile")}
	var err error
	if p.mode, err = s.Mode(); err != nil {
		return nil, err
	}
	if p.proto, err = choice(s, "protocol", string(knock.TCP), string(knock.UDP)); err != nil {
		return nil, err
	}
	if p.mode == settings.ModeLegacy {
		err = c.planLegacy(p)
	} else {
		err = c.planSealed(p)
	}
	if err != nil {
		return nil, err
	}
	if err := c.planVerify(p); err != nil {
		return nil, err
	}
	if err := c.addresses(ctx, p); err != nil {
		return nil, err
	}
	if p.verify {
		p.verifyAt = netip.AddrPortFrom(p.remote, uint16(p.port))
	}
	return p, nil
}

func (c *Client) planLegacy(p *plan) error {
	s := c.s
	if s.Bool("spa") {
		return s.Errorf("spa", "single-packet authorization is a feature of mode = sealed")
	}
	cfg, err := s.LegacyConfig()
	if err != nil {
		return err
	}
	cfg.Rand, cfg.Now = c.env.Rand, c.env.Clock.Now
	if p.codec, err = legacy.New(cfg); err != nil {
		return err
	}
	p.span = p.codec.Span()
	f := p.codec.Format()
	p.port = s.Int("port")
	switch {
	case p.port < 0 || p.port > 65535:
		return s.Errorf("port", "expected a port, 0 to 65535")
	case f.Has(format.Port) && p.port > 255:
		return s.Errorf("port", "%d does not fit the knock's one-byte PORT field (0-255): write PORT16 instead of PORT in knock for ports above 255", p.port)
	}
	for _, n := range f.Flags() {
		if _, ok := p.flags[n]; !ok {
			hint := ""
			if n == 0 {
				hint = "; with the daemon's default timefield it is the minutes to open, as in -flag0 15"
			}
			return s.Errorf("knock", "FLAG%d has no value: set flag%d (0-255)%s", n, n, hint)
		}
	}
	return nil
}

func (c *Client) planSealed(p *plan) error {
	s := c.s
	var err error
	if p.span, err = s.Span(); err != nil {
		return err
	}
	p.port = s.Int("port")
	if p.port < 1 || p.port > 65535 {
		return s.Errorf("port", "expected a port to open, 1 to 65535")
	}
	proto, err := choice(s, "openprotocol", string(knock.TCP), string(knock.UDP))
	if err != nil {
		return err
	}
	p.msg = sealed.Message{Port: uint16(p.port), Proto: proto, Close: s.Bool("close")}
	if !p.msg.Close {
		d := s.Duration("duration")
		if r := sealed.RoundDuration(d); r != d {
			return s.Errorf("duration", "%v cannot be sealed: a sealed knock asks for 1-63 seconds, minutes, hours or days (use %v)", d, r)
		}
		p.msg.Duration = d
	}
	if s.Bool("spa") {
		n := s.Int("spaport")
		if n < 1 || n > 65535 {
			return s.Errorf("spaport", "expected a UDP port, 1 to 65535")
		}
		if p.fileOut {
			return s.Errorf("spa", "a single-packet authorization is a UDP datagram: it cannot be written to a log file (logtofile = yes)")
		}
		p.spa = uint16(n)
	}
	if p.key, err = s.SealedKey(); err != nil {
		return err
	}
	if user, server := s.String("user"), s.String("server"); user != "" || server != "" {
		if user == "" {
			// A daemon without <user> blocks names its one key's user
			// "default".
			user = "default"
		}
		if p.v2, err = sealed.NewSender(user, p.key, server); err != nil {
			return s.Errorf("user", "%w", err)
		}
	}
	return nil
}

func (c *Client) planVerify(p *plan) error {
	s := c.s
	p.retries = s.Int("retry")
	if p.retries < 0 {
		return s.Errorf("retry", "expected a number of retries, 0 or more")
	}
	p.verify = s.Bool("verify") || p.retries > 0
	switch {
	case !p.verify:
	case p.test:
		c.debugf(1, "verify: not with -test, which sends nothing")
		p.verify = false
	case p.port < 1:
		return s.Errorf("port", "-verify connects to port, and port 0 cannot be connected to")
	case p.mode == settings.ModeSealed && p.msg.Proto == string(knock.UDP):
		return s.Errorf("openprotocol", "-verify connects over TCP, and cannot tell whether a UDP port is open")
	}
	return nil
}

// addresses resolves remote, once, and chooses the client address.
func (c *Client) addresses(ctx context.Context, p *plan) error {
	s := c.s
	name := s.String("remote")
	if name == "" && ((!p.test && !p.fileOut) || p.verify) {
		return errors.New("remote: not set: give the host to knock on (remote = x.x.x.x in the file, or -remote)")
	}
	if name != "" {
		a, err := c.env.Net.Resolve(ctx, name)
		if err != nil {
			return sendError(s.Errorf("remote", "%v", err))
		}
		p.remote = a
		if a.String() != name {
			c.debugf(1, "remote: %s is %s", name, a)
		}
	}
	legacyClient := p.codec != nil && p.codec.Format().Has(format.Client)
	text, server := s.String("client"), s.String("stun")
	p.implicit = strings.EqualFold(text, "source")
	switch {
	case p.implicit && p.mode != settings.ModeSealed:
		return s.Errorf("client", "source (open for the address the knock comes from) is a feature of mode = sealed; a legacy knock without CLIENT in knock is opened for its source anyway")
	case text != "" && !p.implicit && server != "":
		return s.Errorf("stun", "%q would learn the address that client already gives (%s): set one of them", server, text)
	case text != "" && !p.implicit:
		a, err := netip.ParseAddr(text)
		if err != nil && p.mode == settings.ModeSealed {
			return s.Errorf("client", "%q is not an IP address (or source, to open for the address the knock comes from)", text)
		} else if err != nil {
			return s.Errorf("client", "%q is not an IP address", text)
		}
		p.client = a.Unmap()
		switch {
		case p.client.IsUnspecified() && p.mode == settings.ModeSealed:
			return s.Errorf("client", "%s opens for nobody: write client = source to open for the address the daemon sees the knock come from, or stun = HOST:PORT to learn that address behind NAT", p.client)
		case p.client.IsUnspecified():
			return s.Errorf("client", "%s opens for nobody: give the address the daemon sees, leave client unset for this host's address toward remote, or set stun = HOST:PORT to learn it behind NAT", p.client)
		}
		if legacyClient && !p.client.Is4() {
			return s.Errorf("client", "the knock's CLIENT field carries an IPv4 address (mode = sealed carries IPv6)")
		}
		return nil
	}
	if !legacyClient && p.mode != settings.ModeSealed && !p.fileOut {
		return nil
	}
	if server != "" {
		a, err := c.env.Mapper.Mapped(ctx, server)
		if err != nil {
			return sendError(s.Errorf("stun", "%v", err))
		}
		if legacyClient && !a.Is4() {
			return s.Errorf("stun", "the server sees this host as %s; the knock's CLIENT field carries IPv4: use mode = sealed", a)
		}
		p.client = a
		c.debugf(1, "client: %s, this host's address as the STUN server %s sees it", a, server)
		return nil
	}
	if !p.remote.IsValid() {
		return errors.New("client: not set, and without remote there is no address to find this host's own from: set client = x.x.x.x (or -client), or remote")
	}
	a, err := c.env.Net.LocalAddr(p.remote)
	if err != nil {
		return sendError(fmt.Errorf("client: not set, and finding this host's address toward %s failed: %w", p.remote, err))
	}
	if legacyClient && !a.Is4() {
		return fmt.Errorf("client: not set, and this host's address toward %s is %s; the knock's CLIENT field carries IPv4: set client, or use mode = sealed", p.remote, a)
	}
	p.client = a
	c.debugf(1, "client: not set; using %s, this host's address toward %s", a, p.remote)
	return nil
}

// choice reads a setting that takes one of a few words.
func choice(s *settings.Set, name string, words ...string) (string, error) {
	v := strings.ToLower(s.String(name))
	for _, w := range words {
		if v == w {
			return v, nil
		}
	}
	return "", s.Errorf(name, "expected %s", strings.Join(words, " or "))
}
