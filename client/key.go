package client

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"time"

	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
)

// SealedKey returns the key of the sealed mode: the file keyfile names
// (written by -keygen), or else the passphrase key through the KDF with
// the kdf* settings, which the daemon must share.
func SealedKey(s *settings.Set) (*sealed.Key, error) {
	if path := s.String("keyfile"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, s.Errorf("keyfile", "%v", unwrapPath(err))
		}
		k, err := sealed.ParseKeyFile(data)
		if err != nil {
			return nil, s.Errorf("keyfile", "%v", err)
		}
		return k, nil
	}
	if s.Get("key").Text == "" {
		return nil, errors.New("key: the sealed mode needs a key: set keyfile (knockclient -keygen writes one) or a passphrase in key")
	}
	kdf, err := KDF(s)
	if err != nil {
		return nil, err
	}
	return kdf.Derive(s.Get("key").Text)
}

// KDF returns the passphrase KDF's parameters, each checked against its
// setting.
func KDF(s *settings.Set) (sealed.KDF, error) {
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
		return p, s.Errorf("kdfsalt", "at least %d bytes (the daemon must use the same)", sealed.MinSaltLen)
	}
	return p, p.Check()
}

// Keygen draws a new key and returns its key-file text. With path set it
// writes the file too, mode 0600, and never over an existing file; its
// errors leave the path to the caller.
func Keygen(path string, rand io.Reader, now time.Time) (string, error) {
	k, err := sealed.GenerateKey(rand)
	if err != nil {
		return "", err
	}
	text := fmt.Sprintf("# knock sealed key, made by knockclient -keygen on %s\n# the same file goes to the daemon (keyfile); keep it secret\n%s\n",
		now.UTC().Format(time.RFC3339), sealed.FormatKey(k))
	if path == "" {
		return text, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", errors.New("the file exists, and a key file is never overwritten (remove it first to replace the key)")
	}
	if err != nil {
		return "", unwrapPath(err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return text, f.Close()
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
