package fko

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"crypto/subtle"
	"hash"
	"strings"
)

// Digest is a hash fwknop uses, for the HMAC trailer or the inner digest.
type Digest int

// The digests, numbered as libfko numbers them (FKO_HMAC_*, FKO_DIGEST_*).
const (
	MD5 Digest = iota + 1
	SHA1
	SHA256
	SHA384
	SHA512
	SHA3_256
	SHA3_512
)

// Digests lists every digest, in libfko's order.
var Digests = []Digest{MD5, SHA1, SHA256, SHA384, SHA512, SHA3_256, SHA3_512}

var digestNames = map[Digest]string{
	MD5: "md5", SHA1: "sha1", SHA256: "sha256", SHA384: "sha384",
	SHA512: "sha512", SHA3_256: "sha3_256", SHA3_512: "sha3_512",
}

// String returns the name access.conf and the client use ("sha3_256").
func (d Digest) String() string { return digestNames[d] }

// ParseDigest reads a digest name, case-insensitively.
func ParseDigest(s string) (Digest, bool) {
	for d, n := range digestNames {
		if strings.EqualFold(s, n) {
			return d, true
		}
	}
	return 0, false
}

func (d Digest) new() func() hash.Hash {
	switch d {
	case MD5:
		return md5.New
	case SHA1:
		return sha1.New
	case SHA256:
		return sha256.New
	case SHA384:
		return sha512.New384
	case SHA512:
		return sha512.New
	case SHA3_256:
		return func() hash.Hash { return sha3.New256() }
	case SHA3_512:
		return func() hash.Hash { return sha3.New512() }
	}
	return nil
}

// B64Len is the length of the digest in libfko's base64.
func (d Digest) B64Len() int { return B64.EncodedLen(d.new()().Size()) }

// Sum returns the digest of msg in base64, as the inner digest is written.
func (d Digest) Sum(msg []byte) string {
	h := d.new()()
	h.Write(msg)
	return B64.EncodeToString(h.Sum(nil))
}

// HMAC returns the base64 HMAC of the wire text (prefix restored) under key.
func HMAC(d Digest, key []byte, text string) string {
	m := hmac.New(d.new(), key)
	m.Write([]byte(SaltedPrefix))
	m.Write([]byte(text))
	return B64.EncodeToString(m.Sum(nil))
}

// Seal appends the HMAC trailer to the wire text.
func Seal(d Digest, key []byte, text string) string { return text + HMAC(d, key, text) }

// Verify checks payload's HMAC trailer for digest d and key in constant
// time, and returns the text before it.
func Verify(d Digest, key []byte, payload string) (string, bool) {
	n := d.B64Len()
	if len(payload) <= n {
		return "", false
	}
	text, mac := payload[:len(payload)-n], payload[len(payload)-n:]
	ok := subtle.ConstantTimeCompare([]byte(HMAC(d, key, text)), []byte(mac)) == 1
	return text, ok
}

// innerDigests are the candidates for an inner digest of n base64
// characters (libfko's is_valid_digest_len and verify_digest).
func innerDigests(n int) []Digest {
	switch n {
	case 22:
		return []Digest{MD5}
	case 27:
		return []Digest{SHA1}
	case 43:
		return []Digest{SHA256, SHA3_256}
	case 64:
		return []Digest{SHA384}
	case 86:
		return []Digest{SHA512, SHA3_512}
	}
	return nil
}
