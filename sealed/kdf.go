package sealed

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/argon2"
)

// DefaultSalt is the salt when the configuration names none. A fixed salt
// lets one dictionary attack every deployment that kept it, so each
// deployment should set its own (GenerateSalt); it is not secret.
const DefaultSalt = "knock sealed v1"

// Floors below which Check refuses parameters: a passphrase is only as
// strong as the work each guess costs.
const (
	MinKDFMemory = 8 * 1024 // KiB
	MinSaltLen   = 8
)

// KDF holds the Argon2id parameters that turn a passphrase into a key.
// Client and daemon must agree on all of them: each changes the key. The
// daemon derives once, at start; the client once per run.
type KDF struct {
	Time    uint32 // passes over memory
	Memory  uint32 // KiB
	Threads uint8  // lanes (parallelism)
	Salt    string
}

// DefaultKDF returns RFC 9106's second recommended setting (t=3, 64 MiB,
// p=4) with DefaultSalt.
func DefaultKDF() KDF {
	return KDF{Time: 3, Memory: 64 * 1024, Threads: 4, Salt: DefaultSalt}
}

// Check reports parameters too weak or malformed to use.
func (p KDF) Check() error {
	switch {
	case p.Time < 1:
		return fmt.Errorf("kdf time %d: at least 1 pass", p.Time)
	case p.Threads < 1:
		return fmt.Errorf("kdf threads %d: at least 1", p.Threads)
	case p.Memory < MinKDFMemory:
		return fmt.Errorf("kdf memory %d KiB: at least %d KiB", p.Memory, MinKDFMemory)
	case len(p.Salt) < MinSaltLen:
		return fmt.Errorf("kdf salt %q: at least %d bytes", p.Salt, MinSaltLen)
	}
	return nil
}

// Derive turns a passphrase into a key with Argon2id.
func (p KDF) Derive(passphrase string) (*Key, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if passphrase == "" {
		return nil, errors.New("empty passphrase")
	}
	return NewKey(argon2.IDKey([]byte(passphrase), []byte(p.Salt), p.Time, p.Memory, p.Threads, KeySize))
}

// GenerateSalt draws a salt for a new deployment: 16 random bytes as 22
// base64url characters, to write into both configurations.
func GenerateSalt(rand io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("drawing a salt: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
