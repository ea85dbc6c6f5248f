package sealed

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// KeySize is the size of a key: 256 bits.
const KeySize = 32

// KeyPrefix starts the text form of a key. The 1 is the key format's
// version, not the message's.
const KeyPrefix = "knock1-"

// keyCheckSize is the checksum after the key in its text form: a mistyped
// key is refused instead of silently failing every knock.
const keyCheckSize = 4

// HKDF-SHA256 info strings for the subkeys; the version in them keeps a
// later message version's subkeys apart from these.
const (
	infoMAC = "knock sealed v1 authentication"
	infoEnc = "knock sealed v1 encryption"
)

// Key is a sealed-knock key: the 256-bit master key, from GenerateKey,
// ParseKey or KDF.Derive, and the two subkeys HKDF derives from it. It is
// safe for concurrent use; the zero Key is not usable. It never prints: every fmt verb shows
// "sealed.Key(redacted)"; FormatKey gives its text.
type Key struct {
	// s is behind a pointer so that even a copied Key prints no secret.
	s *secrets
}

type secrets struct {
	master [KeySize]byte
	pool   sync.Pool // of *scratch, with HMACs under the two subkeys
}

// NewKey makes a key from 32 bytes.
func NewKey(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("a sealed key has %d bytes, got %d", KeySize, len(b))
	}
	s := &secrets{}
	copy(s.master[:], b)
	macKey := subkey(b, infoMAC)
	encKey := subkey(b, infoEnc)
	s.pool.New = func() any {
		return &scratch{mac: hmac.New(sha256.New, macKey), enc: hmac.New(sha256.New, encKey)}
	}
	return &Key{s}, nil
}

func subkey(master []byte, info string) []byte {
	b, err := hkdf.Key(sha256.New, master, nil, info, KeySize)
	if err != nil {
		panic(err) // only for lengths beyond 255 hashes
	}
	return b
}

// GenerateKey draws a new random key from rand (crypto/rand.Reader).
func GenerateKey(rand io.Reader) (*Key, error) {
	var b [KeySize]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("drawing a key: %w", err)
	}
	return NewKey(b[:])
}

// FormatKey returns the text form of k: KeyPrefix, then the key and a
// 4-byte checksum in unpadded URL-safe base64 (55 characters in all).
func FormatKey(k *Key) string {
	buf := make([]byte, 0, KeySize+keyCheckSize)
	buf = append(append(buf, k.s.master[:]...), keyCheck(k.s.master[:])...)
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(buf)
}

// ParseKey reads the text form of a key. Its errors never quote the text:
// it is a secret.
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, KeyPrefix)
	if !ok {
		return nil, errors.New("a sealed key starts with " + KeyPrefix + " (for a passphrase, configure the KDF instead)")
	}
	// base64's decoder skips \r and \n anywhere in its input: refuse
	// them, and every other character outside the alphabet, first, so
	// that a key has exactly one text form.
	buf, err := base64.RawURLEncoding.DecodeString(rest)
	if strings.IndexFunc(rest, notBase64URL) >= 0 || err != nil {
		return nil, fmt.Errorf("a sealed key is %s and base64url characters (A-Z a-z 0-9 - _), and this one has others", KeyPrefix)
	}
	if len(buf) != KeySize+keyCheckSize {
		return nil, fmt.Errorf("a sealed key is %s and %d base64url characters, got %d characters", KeyPrefix, (8*(KeySize+keyCheckSize)+5)/6, len(rest))
	}
	if subtle.ConstantTimeCompare(buf[KeySize:], keyCheck(buf[:KeySize])) != 1 {
		return nil, errors.New("the sealed key's checksum does not match: is it mistyped or cut?")
	}
	return NewKey(buf[:KeySize])
}

func notBase64URL(r rune) bool {
	return (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_'
}

func keyCheck(master []byte) []byte {
	sum := sha256.Sum256(append([]byte(KeyPrefix), master...))
	return sum[:keyCheckSize]
}

// ParseKeyFile reads a key file: the key's text form on one line, with
// blank lines and lines starting with # allowed around it.
func ParseKeyFile(data []byte) (*Key, error) {
	var found []byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("line %d: a key file holds one key, and this is a second line of text", i+1)
		}
		found = line
	}
	if found == nil {
		return nil, errors.New("the key file holds no key (knockclient -keygen writes one)")
	}
	return ParseKey(string(found))
}

// Format keeps keys out of logs, whatever the verb.
func (k Key) Format(f fmt.State, verb rune) { io.WriteString(f, "sealed.Key(redacted)") }

// scratch lends a pooled pair of HMACs and buffers: Open then allocates
// nothing for a forgery.
func (k *Key) scratch() *scratch { return k.s.pool.Get().(*scratch) }

func (k *Key) release(sc *scratch) { k.s.pool.Put(sc) }
