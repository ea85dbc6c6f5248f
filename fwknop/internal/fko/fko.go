// Package fko is the wire format of fwknop's Single Packet Authorization
// (libfko, protocol 3.0.0) as docs/fwknop.md describes it: the base64
// text, the OpenSSL-salted AES-256-CBC, the HMAC trailer and the inner
// colon-separated fields. It knows no access rules; package fwknop does.
package fko

import (
	"encoding/base64"
	"errors"
)

// Limits from libfko and fwknopd (docs/fwknop.md, "Sizes").
const (
	MinPacket     = 140  // fwknopd's MIN_SPA_DATA_SIZE
	MaxPacket     = 1500 // fwknopd's MAX_SPA_PACKET_LEN
	MinGPGPacket  = 400  // libfko's MIN_GNUPG_MSG_SIZE
	MaxKey        = 32   // Rijndael pass phrase, RIJNDAEL_MAX_KEYSIZE
	LegacyKey     = 16   // the pass phrase length in legacy mode
	MaxHMACKey    = 128  // MAX_KEY_LEN
	RandomDigits  = 16   // FKO_RAND_VAL_SIZE
	MaxUser       = 64   // MAX_SPA_USERNAME_SIZE
	MaxTimestamp  = 12   // MAX_SPA_TIMESTAMP_SIZE
	MaxVersion    = 8    // MAX_SPA_VERSION_SIZE
	MaxMessage    = 256  // MAX_SPA_MESSAGE_SIZE (base64 characters)
	MaxTimeout    = 65536
	saltLen       = 8
	blockSize     = 16
	SaltedPrefix  = "U2FsdGVkX1" // base64 of "Salted__", whole characters only
	GPGPrefix     = "hQ"         // base64 of a GnuPG message's first bytes
	saltedMagic   = "Salted__"
	Version       = "3.0.0"
	fieldSep      = ':'
	maxFieldCount = 10
)

// B64 is libfko's base64: the standard alphabet without padding.
var B64 = base64.RawStdEncoding

// Mode is a Rijndael encryption mode fwknopd can be told to use.
type Mode int

const (
	CBC    Mode = iota // the default: EVP_BytesToKey over the key as given
	Legacy             // the key cut or '0'-padded to 16 bytes first
)

func (m Mode) String() string {
	if m == Legacy {
		return "legacy"
	}
	return "CBC"
}

// IsB64 reports whether s holds only base64 characters (no padding).
func IsB64(s []byte) bool {
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// Errors the decrypter returns; package fwknop maps them to reasons.
var (
	ErrMalformed = errors.New("malformed")
	ErrDecrypt   = errors.New("decryption failed")
)
