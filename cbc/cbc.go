// Package cbc encrypts knocks the way the Perl prototype did, through
// Crypt::CBC: CBC mode, PKCS#5 padding, and Crypt::CBC's legacy ("randomiv")
// key derivation from a passphrase.
//
// The key is never the passphrase itself. Crypt::CBC hashes it:
//
//	m = MD5(pass); while len(m) < keysize { m = m || MD5(m) }; key = m[:keysize]
//
// with the key size each Perl cipher module reports: Blowfish 56, DES 8,
// IDEA 16, Twofish 16, Rijndael (AES) 32.
//
// Two IV forms exist. Without an IV header, every knock uses the fixed IV
// "01234567" (zero-extended to the block size) and nothing is prepended. With
// one, the knock carries the 8 ASCII bytes "RandomIV", then the IV, then the
// ciphertext. The prototype's pages used IVs shorter than a block (four
// digits); Crypt::CBC XORed them onto the first block, which is the same as
// zero-extending them, so Decrypt accepts any IV length from 1 to the block size
// and finds it from the total length.
//
// None of this is authenticated: CBC without a MAC is malleable and the
// passphrase hash is fast. It exists for compatibility; see package sealed
// for the knock new deployments should use.
package cbc

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/portknock/knock/idea"
	//lint:ignore SA1019 the Perl prototype's knocks use Blowfish: the legacy codec reads them, new protocols do not
	"golang.org/x/crypto/blowfish"
	//lint:ignore SA1019 the Perl prototype's knocks use Twofish: the legacy codec reads them, new protocols do not
	"golang.org/x/crypto/twofish"
)

// Header is the marker that precedes a random IV in a knock.
const Header = "RandomIV"

// FixedIV is the IV used when the knock carries none.
const FixedIV = "01234567"

// Errors for callers that count why a knock failed to open.
var (
	// ErrLength means the ciphertext is not a whole number of blocks.
	ErrLength = errors.New("ciphertext is not a whole number of blocks")
	// ErrPadding means the decrypted text does not end in valid PKCS#5
	// padding: most often a wrong key or a damaged knock.
	ErrPadding = errors.New("bad padding after decryption (wrong key or damaged knock)")
	// ErrHeader means the data does not start with the RandomIV header or
	// leaves no valid IV length.
	ErrHeader = errors.New("no valid RandomIV header")
)

type algorithm struct {
	name    string
	keySize int
	block   int
	new     func(key []byte) (cipher.Block, error)
}

var algorithms = []algorithm{
	{"Blowfish", 56, blowfish.BlockSize, func(k []byte) (cipher.Block, error) { return blowfish.NewCipher(k) }},
	{"DES", 8, des.BlockSize, des.NewCipher},
	{"IDEA", idea.KeySize, idea.BlockSize, idea.NewCipher},
	{"Twofish", 16, twofish.BlockSize, func(k []byte) (cipher.Block, error) { return twofish.NewCipher(k) }},
	{"Rijndael", 32, aes.BlockSize, aes.NewCipher},
}

// aliases maps lower-case names users write to the canonical names.
var aliases = map[string]string{
	"blowfish": "Blowfish",
	"des":      "DES",
	"idea":     "IDEA",
	"twofish":  "Twofish",
	"twofish2": "Twofish", // the Knock Lab's name for it (Crypt::Twofish2)
	"rijndael": "Rijndael",
	"aes":      "Rijndael",
	"aes256":   "Rijndael",
	"aes-256":  "Rijndael",
}

// Names lists the canonical cipher names, for help texts and forms.
func Names() []string {
	out := make([]string, len(algorithms))
	for i, a := range algorithms {
		out[i] = a.name
	}
	return out
}

// Canonical returns the canonical name of a cipher, accepting the Perl module
// names ("Blowfish", "Crypt::Blowfish") and the aliases AES and Twofish2.
func Canonical(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "crypt::")
	if c, ok := aliases[n]; ok {
		return c, nil
	}
	return "", fmt.Errorf("unknown cipher %q: expected one of %s", name, strings.Join(Names(), ", "))
}

func lookup(name string) (algorithm, error) {
	c, err := Canonical(name)
	if err != nil {
		return algorithm{}, err
	}
	for _, a := range algorithms {
		if a.name == c {
			return a, nil
		}
	}
	panic("cbc: alias table names a missing cipher " + c)
}

// DeriveKey is Crypt::CBC's legacy key derivation: MD5 of the passphrase,
// extended by MD5 of everything so far until it is long enough.
func DeriveKey(pass string, size int) []byte {
	m := md5.Sum([]byte(pass))
	key := m[:]
	for len(key) < size {
		next := md5.Sum(key)
		key = append(key, next[:]...)
	}
	return key[:size:size]
}

// Cipher is a block cipher with its key schedule prepared once, ready to
// seal and open any number of knocks. It is safe for concurrent use.
type Cipher struct {
	name  string
	block cipher.Block
}

// New prepares the named cipher with a key derived from pass.
func New(name, pass string) (*Cipher, error) {
	a, err := lookup(name)
	if err != nil {
		return nil, err
	}
	b, err := a.new(DeriveKey(pass, a.keySize))
	if err != nil {
		return nil, fmt.Errorf("cipher %s: %w", a.name, err)
	}
	return &Cipher{name: a.name, block: b}, nil
}

// Name is the canonical name of the cipher.
func (c *Cipher) Name() string { return c.name }

// BlockSize is the cipher's block size in bytes (8, or 16 for Rijndael).
func (c *Cipher) BlockSize() int { return c.block.BlockSize() }

// CiphertextLen is the length of the ciphertext of n bytes of plaintext, without
// any IV header: PKCS#5 always adds 1 to BlockSize bytes.
func (c *Cipher) CiphertextLen(n int) int {
	bs := c.BlockSize()
	return bs * (n/bs + 1)
}

// fixedIV returns "01234567" zero-extended to the block size.
func (c *Cipher) fixedIV() []byte {
	iv := make([]byte, c.BlockSize())
	copy(iv, FixedIV)
	return iv
}

// EncryptBlocks encrypts plain in CBC mode with PKCS#5 padding under iv, which may
// be shorter than a block (it is zero-extended, as Crypt::CBC did).
func (c *Cipher) EncryptBlocks(plain, iv []byte) []byte {
	bs := c.BlockSize()
	pad := bs - len(plain)%bs
	buf := make([]byte, len(plain)+pad)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(c.block, c.blockIV(iv)).CryptBlocks(buf, buf)
	return buf
}

// DecryptBlocks reverses EncryptBlocks. It fails with ErrLength or ErrPadding.
func (c *Cipher) DecryptBlocks(ct, iv []byte) ([]byte, error) {
	bs := c.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, fmt.Errorf("%w: %d bytes, block size %d", ErrLength, len(ct), bs)
	}
	buf := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, c.blockIV(iv)).CryptBlocks(buf, ct)
	n, ok := unpad(buf, bs)
	if !ok {
		return nil, ErrPadding
	}
	return buf[:n], nil
}

// unpad checks PKCS#5 padding without branching on the padding bytes, so a
// timing probe learns no more than the final verdict.
func unpad(buf []byte, bs int) (int, bool) {
	pad := int(buf[len(buf)-1])
	good := 1
	if pad == 0 || pad > bs {
		return 0, false
	}
	for i := 1; i <= bs; i++ {
		// inPad is 1 for the last pad bytes, 0 before them.
		inPad := 1 - ((pad - i) >> 31 & 1)
		match := 0
		if buf[len(buf)-i] == byte(pad) {
			match = 1
		}
		good &= 1 - inPad + inPad*match
	}
	return len(buf) - pad, good == 1
}

func (c *Cipher) blockIV(iv []byte) []byte {
	full := make([]byte, c.BlockSize())
	copy(full, iv)
	return full
}

// Encrypt encrypts a knock. Without a random source the fixed IV is used and
// nothing is prepended; with one, a fresh block-sized IV is drawn from it
// and the result is Header || IV || ciphertext.
func (c *Cipher) Encrypt(plain []byte, random io.Reader) ([]byte, error) {
	if random == nil {
		return c.EncryptBlocks(plain, c.fixedIV()), nil
	}
	iv := make([]byte, c.BlockSize())
	if _, err := io.ReadFull(random, iv); err != nil {
		return nil, fmt.Errorf("drawing an IV: %w", err)
	}
	return c.EncryptIV(plain, iv), nil
}

// EncryptIV encrypts with the given IV (1 to BlockSize bytes) and prepends the
// header and IV. It exists for test vectors and the Knock Lab; knocks for
// the network should use Encrypt with a real random source.
func (c *Cipher) EncryptIV(plain, iv []byte) []byte {
	out := make([]byte, 0, len(Header)+len(iv)+c.CiphertextLen(len(plain)))
	out = append(out, Header...)
	out = append(out, iv...)
	return append(out, c.EncryptBlocks(plain, iv)...)
}

// Decrypt decrypts data made by Encrypt or EncryptIV. Data that starts with the
// header and leaves a whole number of blocks after an IV of 1 to BlockSize
// bytes is read as Header || IV || ciphertext; anything else is read as
// ciphertext under the fixed IV. It returns the plaintext and the IV used
// (nil for the fixed IV).
func (c *Cipher) Decrypt(data []byte) (plain, iv []byte, err error) {
	if ivLen, ok := c.HeaderIVLen(len(data)); ok && bytes.HasPrefix(data, []byte(Header)) {
		iv = data[len(Header) : len(Header)+ivLen]
		plain, err = c.DecryptBlocks(data[len(Header)+ivLen:], iv)
		return plain, iv, err
	}
	plain, err = c.DecryptBlocks(data, c.fixedIV())
	return plain, nil, err
}

// HeaderIVLen returns the IV length that a knock of n bytes with a RandomIV
// header must have, if any: the one that leaves a whole, non-zero number of
// blocks.
func (c *Cipher) HeaderIVLen(n int) (int, bool) {
	bs := c.BlockSize()
	rest := n - len(Header)
	if rest <= bs {
		return 0, false
	}
	l := rest % bs
	if l == 0 {
		l = bs
	}
	return l, rest-l >= bs
}
