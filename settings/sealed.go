package settings

import (
	"os"

	"github.com/portknock/knock/sealed"
)

// KDF returns the Argon2id parameters, checked.
func (s *Set) KDF() (sealed.KDF, error) {
	k := sealed.KDF{Time: uint32(s.Int("kdftime")), Memory: uint32(s.Int("kdfmemory")), Threads: uint8(s.Int("kdfthreads")), Salt: s.Get("kdfsalt").Text}
	for _, n := range []string{"kdftime", "kdfmemory", "kdfthreads"} {
		if v := s.Int(n); v < 1 || v > 1<<22 {
			return k, s.Errorf(n, "%d is out of range", v)
		}
	}
	if err := k.Check(); err != nil {
		return k, s.Errorf("kdfsalt", "%v", err)
	}
	return k, nil
}

// SealedKey returns the key of the sealed knock: from keyfile when set,
// else derived from the key passphrase (which takes the KDF's time).
func (s *Set) SealedKey() (*sealed.Key, error) {
	if path := s.String("keyfile"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, s.Errorf("keyfile", "%v (knockclient -keygen -keyfile FILE writes one)", err)
		}
		k, err := sealed.ParseKeyFile(data)
		if err != nil {
			return nil, s.Errorf("keyfile", "%v", err)
		}
		return k, nil
	}
	pass := s.Get("key").Text
	if pass == "" {
		return nil, s.Missing("key", "mode = sealed needs a key: a keyfile (knockclient -keygen) or a passphrase in key")
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
