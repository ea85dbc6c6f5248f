package settings

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"unicode/utf8"

	"github.com/portknock/knock/sealed"
)

// KDF returns the passphrase KDF's parameters, each checked against its
// setting.
func (s *Set) KDF() (sealed.KDF, error) {
	p := sealed.KDF{Salt: s.String("kdfsalt")}
	for _, c := range []struct {
		name     string
		min, max int
		set      func(int)
	}{
		{"kdftime", 1, math.MaxUint32, func(n int) { p.Time = uint32(n) }},
		{"kdfmemory", sealed.MinKDFMemory, math.MaxUint32, func(n int) { p.Memory = uint32(n) }},
		{"kdfthreads", 1, math.MaxUint8, func(n int) { p.Threads = uint8(n) }},
	} {
		n := s.Int(c.name)
		if n < c.min || n > c.max {
			return p, s.Errorf(c.name, "expected %d to %d", c.min, c.max)
		}
		c.set(n)
	}
	if len(p.Salt) < sealed.MinSaltLen {
		return p, s.Errorf("kdfsalt", "at least %d bytes (both ends must use the same)", sealed.MinSaltLen)
	}
	return p, p.Check()
}

// SealedKey returns the key of the sealed knock: from keyfile when set,
// else derived from the key passphrase (which takes the KDF's time).
func (s *Set) SealedKey() (*sealed.Key, error) {
	if path := s.Path("keyfile"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, s.Errorf("keyfile", "%w (knockclient -keygen -keyfile FILE writes one)", unwrapPath(err))
		}
		k, err := sealed.ParseKeyFile(data)
		if err != nil {
			return nil, s.Errorf("keyfile", "%w", err)
		}
		if err := CheckSecretFile(path); err != nil {
			return nil, s.Errorf("keyfile", "%w", err)
		}
		return k, nil
	}
	pass := s.Get("key").Text
	if pass == "" {
		return nil, s.Missing("key", "mode = sealed needs a key: a keyfile (knockclient -keygen writes one) or a passphrase in key")
	}
	kdf, err := s.KDF()
	if err != nil {
		return nil, err
	}
	return kdf.Derive(pass)
}

// SPAPort returns the single-packet authorization port, checked.
func (s *Set) SPAPort() (uint16, error) {
	p := s.Int("spaport")
	if p < 1 || p > 65535 {
		return 0, s.Errorf("spaport", "expected a port from 1 to 65535")
	}
	return uint16(p), nil
}

// CheckSecretFile refuses a file holding a secret that group or others
// may read or write (whoever reads a key can knock, whoever writes it
// chooses the key), or that belongs to another user than the one
// running, or root.
func CheckSecretFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return unwrapPath(err)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		return fmt.Errorf("mode %04o lets group or others at the key it holds: it needs 0600 or stricter (chmod 600 %s)", mode, path)
	}
	if uid, ok := ownerOf(fi); ok && uid != 0 && uid != os.Getuid() {
		return fmt.Errorf("belongs to user id %d: a key file must belong to the user running (id %d) or root (chown)", uid, os.Getuid())
	}
	return nil
}

// MinPassphrase is the shortest sealed passphrase that goes unwarned.
const MinPassphrase = 12

// CheckSecrets checks how the configuration keeps its secrets, beyond the
// key file SealedKey checks: a file holding the passphrase (key) that
// group or others may write is refused; one they may read, a passphrase
// given on the command line (every user sees it in ps), a short sealed
// passphrase or the default kdfsalt are warnings, for the program to
// log. No warning quotes the key.
func (s *Set) CheckSecrets() (warnings []string, err error) {
	key := s.Get("key")
	switch {
	case key.Text == "":
	case key.Origin == "command line":
		warnings = append(warnings, "the passphrase (key) is given on the command line, where every user of this host sees it (ps): put it in a file of mode 0600, or use mode = sealed with a keyfile")
	case s.File != "":
		fi, err := os.Stat(s.File)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File, unwrapPath(err))
		}
		switch mode := fi.Mode().Perm(); {
		case mode&0o022 != 0:
			return nil, s.Errorf("key", "the file holds a passphrase, and its mode %04o lets group or others write it: it needs 0600 or stricter (chmod 600 %s)", mode, s.File)
		case mode&0o044 != 0:
			warnings = append(warnings, fmt.Sprintf("%s holds the passphrase (key, %s), and its mode %04o lets group or others read it: chmod 600 %s, or move the key to a keyfile", s.File, key.Origin, mode, s.File))
		}
	}
	if m, _ := s.Mode(); m != ModeSealed || s.String("keyfile") != "" || key.Text == "" {
		return warnings, nil
	}
	if utf8.RuneCountInString(key.Text) < MinPassphrase {
		warnings = append(warnings, fmt.Sprintf("the sealed passphrase (key, %s) is shorter than %d characters: whoever records one knock can guess it offline; write a random key with knockclient -keygen -keyfile FILE and set keyfile = FILE on both ends", key.Origin, MinPassphrase))
	}
	if p, _ := Lookup("kdfsalt"); s.String("kdfsalt") == p.Default {
		warnings = append(warnings, "kdfsalt is the default ("+p.Default+"), shared by every installation: a passphrase list guessed against one works against all; set your own kdfsalt on both ends (any text of 8 bytes or more, such as the output of head -c16 /dev/urandom | base64), or use a keyfile (knockclient -keygen -keyfile FILE)")
	}
	return warnings, nil
}

// unwrapPath drops the operation and path of a *fs.PathError, which the
// message around it already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
