package fko

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"fmt"
)

// PassPhrase is the pass phrase EVP_BytesToKey takes for key in mode:
// the key itself in CBC mode; in legacy mode its first 16 bytes, padded
// with ASCII '0' up to 16 (fwknopd's access.c cuts, libfko's
// cipher_funcs.c pads).
func PassPhrase(key []byte, mode Mode) []byte {
	if mode != Legacy {
		return key
	}
	p := make([]byte, LegacyKey)
	n := copy(p, key)
	for i := n; i < LegacyKey; i++ {
		p[i] = '0'
	}
	return p
}

// KeyIV is OpenSSL's EVP_BytesToKey with MD5 and one round: 32 bytes of
// AES-256 key, then 16 bytes of IV.
func KeyIV(pass, salt []byte) (key, iv []byte) {
	var out []byte
	var prev []byte
	for len(out) < 48 {
		h := md5.New()
		h.Write(prev)
		h.Write(pass)
		h.Write(salt)
		prev = h.Sum(nil)
		out = append(out, prev...)
	}
	return out[:32], out[32:48]
}

// Encrypt returns the wire text of plaintext under key: base64 of
// "Salted__" || salt || AES-256-CBC(PKCS#7(plaintext)), without its
// constant "U2FsdGVkX1" prefix. salt must be 8 bytes.
func Encrypt(plaintext, key []byte, mode Mode, salt []byte) string {
	k, iv := KeyIV(PassPhrase(key, mode), salt)
	pad := blockSize - len(plaintext)%blockSize
	buf := make([]byte, 0, 16+len(plaintext)+pad)
	buf = append(buf, saltedMagic...)
	buf = append(buf, salt...)
	body := len(buf)
	buf = append(buf, plaintext...)
	for range pad {
		buf = append(buf, byte(pad))
	}
	b, _ := aes.NewCipher(k)
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(buf[body:], buf[body:])
	return B64.EncodeToString(buf)[len(SaltedPrefix):]
}

// Decrypt reverses Encrypt: text is the wire text without its HMAC and
// without the prefix. It fails with ErrMalformed when the text is not
// base64 of "Salted__", a salt and whole blocks, and with ErrDecrypt
// when the padding is wrong or the plaintext does not begin as libfko's
// always does (16 digits and a colon): a wrong key or mode.
func Decrypt(text string, key []byte, mode Mode) ([]byte, error) {
	raw, err := B64.DecodeString(SaltedPrefix + text)
	if err != nil {
		return nil, fmt.Errorf("%w: the ciphertext is not base64", ErrMalformed)
	}
	if len(raw) < 16+blockSize || (len(raw)-16)%blockSize != 0 || string(raw[:8]) != saltedMagic {
		return nil, fmt.Errorf("%w: the ciphertext is not salt and whole blocks (%d bytes)", ErrMalformed, len(raw))
	}
	k, iv := KeyIV(PassPhrase(key, mode), raw[8:16])
	b, _ := aes.NewCipher(k)
	pt := raw[16:]
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(pt, pt)
	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > blockSize {
		return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
	}
	for _, c := range pt[len(pt)-pad:] {
		if int(c) != pad {
			return nil, fmt.Errorf("%w: bad padding", ErrDecrypt)
		}
	}
	pt = pt[:len(pt)-pad]
	if len(pt) <= RandomDigits || pt[RandomDigits] != fieldSep {
		return nil, fmt.Errorf("%w: no random value", ErrDecrypt)
	}
	for _, c := range pt[:RandomDigits] {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%w: no random value", ErrDecrypt)
		}
	}
	return pt, nil
}
