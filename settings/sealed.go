package settings

import (
	"errors"
	"io/fs"
	"math"
	"os"

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
			return nil, s.Errorf("keyfile", "%v (knockclient -keygen -keyfile FILE writes one)", unwrapPath(err))
		}
		k, err := sealed.ParseKeyFile(data)
		if err != nil {
			return nil, s.Errorf("keyfile", "%v", err)
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

// unwrapPath drops the operation and path of a *fs.PathError, which the
// message around it already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
