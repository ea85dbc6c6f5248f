package users

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/conffile"
	"github.com/portknock/knock/sealed"
)

// MaxKeys is how many sealed keys a user may hold at once: the new one
// and the old one during a rollover.
const MaxKeys = 2

// Options are what parsing a user block needs from the rest of the
// configuration.
type Options struct {
	// Protected are the daemon's protected ports: a user's allow must be
	// a subset of them.
	Protected []knock.Port
	// ReadFile reads a key file (os.ReadFile when nil); the caller's
	// tests give a map of files instead.
	ReadFile func(path string) ([]byte, error)
	// Stat gives a key file's mode, to refuse files others can read
	// (os.Stat when nil).
	Stat func(path string) (fs.FileMode, error)
	// Derive turns a passphrase into a sealed key with the daemon's KDF;
	// nil refuses passphrases (key =) in user blocks.
	Derive func(passphrase string) (*sealed.Key, error)
	// Location is the time zone of expiry dates (time.Local when nil).
	Location *time.Location
}

// Parse types the <user NAME> blocks of a configuration. Every error
// names the file and line, and what was expected; no error quotes a key.
func Parse(blocks []*conffile.Block, o Options) ([]User, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.Stat == nil {
		o.Stat = func(p string) (fs.FileMode, error) {
			st, err := os.Stat(p)
			if err != nil {
				return 0, err
			}
			return st.Mode(), nil
		}
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	out := make([]User, 0, len(blocks))
	for _, b := range blocks {
		u, err := parseUser(b, o)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if _, err := NewDirectory(out); err != nil {
		return nil, err
	}
	return out, nil
}

func parseUser(b *conffile.Block, o Options) (User, error) {
	u := User{Name: b.Label, Pos: b.Pos}
	if err := checkName(u.Name); err != nil {
		return u, &conffile.Error{Pos: b.Pos, Msg: err.Error()}
	}
	seen := map[string]conffile.Pos{}
	for _, it := range b.Items {
		if it.Block != nil {
			return u, &conffile.Error{Pos: it.Pos, Msg: fmt.Sprintf("unexpected block <%s> inside <user %s>", it.Block.Name, u.Name)}
		}
		if prev, again := seen[it.Key]; again && it.Key != "keyfile" {
			return u, &conffile.Error{Pos: it.Pos, Msg: fmt.Sprintf("key %q is set twice for user %q (first at %s)", it.Key, u.Name, prev)}
		}
		seen[it.Key] = it.Pos
		if err := u.set(it, o); err != nil {
			return u, &conffile.Error{Pos: it.Pos, Msg: fmt.Sprintf("user %q: %s: %v", u.Name, it.Key, err)}
		}
	}
	if len(u.SealedKeys) == 0 && u.LegacyKey == "" {
		return u, &conffile.Error{Pos: b.Pos, Msg: fmt.Sprintf("user %q has no key: give keyfile (sealed; knockclient -keygen writes one) or legacykey", u.Name)}
	}
	return u, nil
}

// checkName allows the names a v2 knock can carry and a log can show.
func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("a user name has 1 to 64 characters: <user NAME>")
	}
	for _, r := range name {
		if !(r == '-' || r == '_' || r == '.' || r == '@' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("user name %q: letters, digits and - _ . @ only", name)
		}
	}
	return nil
}

func (u *User) set(it conffile.Item, o Options) error {
	v := strings.TrimSpace(it.Value)
	if it.Bare || v == "" {
		return errors.New("no value")
	}
	switch it.Key {
	case "keyfile":
		if len(u.SealedKeys) == MaxKeys {
			return fmt.Errorf("at most %d keys at once (the new and the old during a rollover)", MaxKeys)
		}
		k, err := readKey(v, o)
		if err != nil {
			return err
		}
		u.SealedKeys = append(u.SealedKeys, k)
	case "key":
		if o.Derive == nil {
			return errors.New("a passphrase cannot be used here: give a keyfile (knockclient -keygen writes one)")
		}
		if len(u.SealedKeys) == MaxKeys {
			return fmt.Errorf("at most %d keys at once", MaxKeys)
		}
		k, err := o.Derive(v)
		if err != nil {
			return err
		}
		u.SealedKeys = append(u.SealedKeys, k)
	case "legacykey":
		u.LegacyKey = it.Value
	case "allow":
		for _, f := range strings.Split(v, ",") {
			p, err := knock.ParsePort(f)
			if err != nil {
				return err
			}
			if !slices.Contains(o.Protected, p) {
				return fmt.Errorf("%s is not a protected port: a user may open only ports in protected", p)
			}
			if !slices.Contains(u.Allow, p) {
				u.Allow = append(u.Allow, p)
			}
		}
	case "from":
		for _, f := range strings.Split(v, ",") {
			p, err := parsePrefix(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			u.From = append(u.From, p)
		}
	case "maxduration":
		d, err := parseDuration(v)
		if err != nil {
			return err
		}
		u.MaxDuration = d
	case "expires":
		t, err := parseDate(v, o.Location)
		if err != nil {
			return err
		}
		u.Expires = t
	case "disabled":
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		u.Disabled = b
	default:
		return fmt.Errorf("unknown key: expected keyfile, key, legacykey, allow, from, maxduration, expires or disabled")
	}
	return nil
}

func readKey(path string, o Options) (*sealed.Key, error) {
	mode, err := o.Stat(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !mode.IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", path)
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%q has mode %04o, which lets others read or change the key: it needs 0600 or stricter (chmod 600 %s)", path, perm, path)
	}
	data, err := o.ReadFile(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	k, err := sealed.ParseKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	return k, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%q: %w", pe.Path, pe.Err)
	}
	return err
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a network: expected an address or ADDRESS/BITS", s)
}

// parseDuration reads 90s, 15m, 12h, 2d or a bare number of minutes.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration: expected a number with s, m, h or d (bare: minutes), more than 0", s)
	unit := time.Minute
	num := s
	switch {
	case strings.HasSuffix(s, "d"):
		unit, num = 24*time.Hour, strings.TrimSuffix(s, "d")
	case strings.HasSuffix(s, "h"):
		unit, num = time.Hour, strings.TrimSuffix(s, "h")
	case strings.HasSuffix(s, "m"):
		unit, num = time.Minute, strings.TrimSuffix(s, "m")
	case strings.HasSuffix(s, "s"):
		unit, num = time.Second, strings.TrimSuffix(s, "s")
	}
	var n int64
	if _, err := fmt.Sscanf(num, "%d", &n); err != nil || fmt.Sprint(n) != num || n <= 0 || n > 1<<31 || time.Duration(n)*unit > 366*24*time.Hour {
		return 0, bad
	}
	return time.Duration(n) * unit, nil
}

// parseDate reads 2027-01-31 (valid through that day, in loc) or an
// RFC 3339 time (the instant from which knocks are refused).
func parseDate(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date: expected YYYY-MM-DD (valid through that day) or an RFC 3339 time", s)
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q: expected yes or no", s)
}
