// Package users is who may knock on one daemon: a user per <user NAME>
// block of the configuration, each with its own keys, the ports it may
// open, the networks it may knock from, the longest time it may ask for,
// an expiry date, and a switch to disable it.
//
//	<user alice>
//	    keyfile     = /etc/knock/alice.key      # sealed; twice during a rollover
//	    legacykey   = secret                    # the prototype's knock, if she uses it
//	    allow       = tcp/22                    # a subset of protected
//	    from        = 192.0.2.0/24, 2001:db8::/32
//	    maxduration = 1d
//	    expires     = 2027-01-31                # refused from 2027-02-01 on
//	    disabled    = no
//	</user>
//
// A Directory checks each request a knock protocol decoded against its
// user's rights (Admit), so the rights live in one place whatever the
// protocol. Names come from the configuration, never from the wire: a
// metrics label or a log field built from them is bounded.
package users

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/conffile"
	"github.com/portknock/knock/sealed"
)

// User is one user of the daemon.
type User struct {
	Name        string
	Pos         conffile.Pos   // where its block starts, for messages
	SealedKeys  []*sealed.Key  // one, or two during a key rollover
	LegacyKey   string         // the legacy knock's passphrase; "" for none
	Allow       []knock.Port   // the ports it may open; nil: every protected port
	From        []netip.Prefix // the networks it may knock from; nil: anywhere
	MaxDuration time.Duration  // the longest it may ask for; 0: the daemon's
	Expires     time.Time      // from then on its knocks are refused; zero: never
	Disabled    bool
}

// Directory is the users of a daemon, by name.
type Directory struct {
	byName map[string]*User
	names  []string
}

// NewDirectory indexes users, whose names must be unique.
func NewDirectory(us []User) (*Directory, error) {
	d := &Directory{byName: make(map[string]*User, len(us))}
	for i := range us {
		u := &us[i]
		if prev, dup := d.byName[u.Name]; dup {
			return nil, fmt.Errorf("%s: user %q is defined twice (first at %s)", u.Pos, u.Name, prev.Pos)
		}
		d.byName[u.Name] = u
		d.names = append(d.names, u.Name)
	}
	return d, nil
}

// Lookup returns the user called name.
func (d *Directory) Lookup(name string) (*User, bool) {
	u, ok := d.byName[name]
	return u, ok
}

// Names lists the users in configuration order.
func (d *Directory) Names() []string { return slices.Clone(d.names) }

// Users lists the users in configuration order.
func (d *Directory) Users() []*User {
	out := make([]*User, len(d.names))
	for i, n := range d.names {
		out[i] = d.byName[n]
	}
	return out
}

// Governs reports whether requests of protocol p name users of this
// directory: the daemon's own knocks do; fwknop's access.conf stanzas and
// knockd's doors carry their rights themselves.
func Governs(p knock.Protocol) bool { return p == knock.Sealed || p == knock.Legacy }

// Admit checks a decoded request against its user's rights and returns it
// with its duration capped by the user's maximum. Requests of protocols
// the directory does not govern pass unchanged.
func (d *Directory) Admit(req knock.Request, src netip.Addr, now time.Time) (knock.Request, error) {
	if !Governs(req.Protocol) {
		return req, nil
	}
	u, ok := d.byName[req.User]
	switch {
	case !ok:
		return req, knock.Refuse(knock.ReasonUser, fmt.Errorf("no user %q", req.User))
	case u.Disabled:
		return req, knock.Refuse(knock.ReasonUser, fmt.Errorf("user %q is disabled", u.Name))
	case !u.Expires.IsZero() && !now.Before(u.Expires):
		return req, knock.Refuse(knock.ReasonExpired, fmt.Errorf("user %q expired at %s", u.Name, u.Expires.Format(time.RFC3339)))
	case len(u.From) > 0 && !slices.ContainsFunc(u.From, func(p netip.Prefix) bool { return p.Contains(src.Unmap()) }):
		return req, knock.Refuse(knock.ReasonSource, fmt.Errorf("user %q may not knock from %s", u.Name, src))
	}
	if len(u.Allow) > 0 {
		if !u.allows(req) {
			return req, knock.Refuse(knock.ReasonPort, fmt.Errorf("user %q may not open %s (allowed: %s)", u.Name, portText(req), listText(u.Allow)))
		}
		if req.Proto == "" && len(req.Ports) == 0 {
			// "Every protocol the port is protected for" narrows to the
			// protocols the user may open.
			var ps []knock.Port
			for _, p := range u.Allow {
				if p.Port == req.Port {
					ps = append(ps, p)
				}
			}
			req.Ports = ps
		}
	}
	if u.MaxDuration > 0 && (req.Limit == 0 || u.MaxDuration < req.Limit) {
		req.Limit = u.MaxDuration
	}
	return req, nil
}

func (u *User) allows(req knock.Request) bool {
	if len(req.Ports) > 0 {
		for _, p := range req.Ports {
			if !slices.Contains(u.Allow, p) {
				return false
			}
		}
		return true
	}
	for _, p := range u.Allow {
		if p.Port == req.Port && (req.Proto == "" || req.Proto == p.Proto) {
			return true
		}
	}
	return false
}

func portText(req knock.Request) string {
	if len(req.Ports) > 0 {
		return listText(req.Ports)
	}
	if req.Proto == "" {
		return fmt.Sprintf("port %d", req.Port)
	}
	return knock.Port{Proto: req.Proto, Port: req.Port}.String()
}

func listText(ps []knock.Port) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
