// Package idea implements the International Data Encryption Algorithm
// (IDEA) of Xuejia Lai and James L. Massey: a block cipher with a 64-bit
// block and a 128-bit key, made of eight rounds and a final half round
// (the output transformation). It mixes three operations on 16-bit words
// that do not distribute over each other: XOR, addition modulo 2^16, and
// multiplication modulo 2^16+1, in which the word 0 stands for 2^16.
//
// # Why this package exists
//
// The Perl prototype of the port knocker encrypted its knocks with
// Crypt::CBC over several block ciphers, IDEA among them (through
// Crypt::IDEA). To read and write knocks that are byte-compatible with
// it, the Go port needs IDEA, and no usable Go implementation exists, so
// this one was written from the algorithm's published description. The
// cbc package supplies the Crypt::CBC mode and key derivation around the
// cipher.Block returned here.
//
// IDEA is not recommended for new designs: its 64-bit block is too small
// for large amounts of data under one key (birthday bound), it has classes
// of weak keys, and it has no advantage over AES. Use it only to
// interoperate with knocks made by the prototype; the sealed package is
// the format for anything new.
//
// # Test vectors
//
// The known-answer tests in testdata/vectors.txt are published vectors:
// the classic vector from the IDEA specification and the ETH reference
// implementation (key 0001 0002 … 0008, plaintext 0000 0001 0002 0003,
// ciphertext 11FB ED2B 0198 6DE5) with the other vectors of Crypto++'s
// ideaval.dat, the NESSIE project's IDEA vectors
// (Idea-128-64.verified.test-vectors: Sets 1, 4, 5, 6, 7 and 8 complete,
// Sets 2 and 3 in part; not the "Iterated 100/1000 times" values), and
// single-block vectors from Botan. The eleven Crypto++ vectors are also the
// whole test suite of the Perl module Crypt::IDEA (its test.pl), so they fix
// the byte order of the knocks the prototype made. Each line of the file
// names the open-source copy (repository, path, commit) the vector was taken
// from; none was computed by this package.
//
// # Side channels
//
// Multiplication modulo 2^16+1 is done without branches or table look-ups
// on secret data: the 0 that stands for 2^16 is mapped arithmetically, the
// product is taken in 64 bits, and the reduction uses 2^16 ≡ -1 with a
// masked correction. The decryption subkeys are computed with a fixed
// sequence of such multiplications (Fermat inversion). Encrypt and Decrypt
// do not allocate.
package idea

import (
	"crypto/cipher"
	"encoding/binary"
	"strconv"
)

// BlockSize is the IDEA block size in bytes.
const BlockSize = 8

// KeySize is the IDEA key size in bytes.
const KeySize = 16

// rounds is the number of full rounds; the output transformation follows.
const rounds = 8

// subkeys is the number of 16-bit subkeys: six for each round and four
// for the output transformation.
const subkeys = 6*rounds + 4

// KeySizeError is returned by NewCipher for a key that is not KeySize
// bytes long. Its value is the length of the key that was given.
type KeySizeError int

func (k KeySizeError) Error() string {
	return "idea: invalid key size " + strconv.Itoa(int(k))
}

// ideaCipher holds the expanded key: the encryption subkeys and the
// decryption subkeys derived from them, both computed once by NewCipher.
type ideaCipher struct {
	enc [subkeys]uint16
	dec [subkeys]uint16
}

// NewCipher returns an IDEA cipher.Block for the given 16-byte key.
func NewCipher(key []byte) (cipher.Block, error) {
	if len(key) != KeySize {
		return nil, KeySizeError(len(key))
	}
	c := new(ideaCipher)
	expandKey(key, &c.enc)
	invertKey(&c.enc, &c.dec)
	return c, nil
}

func (c *ideaCipher) BlockSize() int { return BlockSize }

// Encrypt encrypts the first block of src into dst. dst and src may
// overlap entirely or partially: the whole block is read before any of
// dst is written.
func (c *ideaCipher) Encrypt(dst, src []byte) {
	if len(src) < BlockSize {
		panic("idea: input not full block")
	}
	if len(dst) < BlockSize {
		panic("idea: output not full block")
	}
	crypt(&c.enc, dst, src)
}

// Decrypt decrypts the first block of src into dst. dst and src may
// overlap entirely or partially.
func (c *ideaCipher) Decrypt(dst, src []byte) {
	if len(src) < BlockSize {
		panic("idea: input not full block")
	}
	if len(dst) < BlockSize {
		panic("idea: output not full block")
	}
	crypt(&c.dec, dst, src)
}

// mul multiplies a and b modulo 2^16+1, where the word 0 stands for 2^16.
// The result is in the same representation (2^16 comes back as 0; 0 itself
// cannot occur since 2^16+1 is prime).
//
// It has no branches on its inputs:
//   - a word w is widened to w + 2^16·[w = 0]; the flag is the top bit of
//     the 32-bit w-1, which wraps only for w = 0;
//   - the product of two such values is at most 2^32, so it is taken in
//     64 bits;
//   - with p = hi·2^16 + lo and 2^16 ≡ -1, p ≡ lo - hi; lo - hi lies in
//     [-2^16, 2^16-1], so adding 2^16+1 when it is negative (a mask from
//     its sign bit) brings it into [1, 2^16], and 2^16 truncates to 0.
func mul(a, b uint16) uint16 {
	x := uint32(a) | ((uint32(a)-1)>>31)<<16
	y := uint32(b) | ((uint32(b)-1)>>31)<<16
	p := uint64(x) * uint64(y)
	lo := uint32(p) & 0xffff
	hi := uint32(p >> 16)
	r := lo - hi
	r += 0x10001 & -(r >> 31)
	return uint16(r)
}

// mulInv returns the multiplicative inverse of x modulo 2^16+1, in the
// same representation as mul (so the inverse of 0, that is of 2^16 ≡ -1,
// is 0 again). It computes x^(2^16-1) = x^(p-2) by Fermat's little
// theorem; the exponent 0xffff is public, so the sequence of 15 squarings
// and 15 multiplications is the same for every x.
func mulInv(x uint16) uint16 {
	r := x // x^1
	for i := 0; i < 15; i++ {
		r = mul(r, r) // x^(2^k - 2) ...
		r = mul(r, x) // ... then x^(2^(k+1) - 1)
	}
	return r
}

// addInv returns the additive inverse of x modulo 2^16.
func addInv(x uint16) uint16 { return -x }

// expandKey computes the 52 encryption subkeys: the key is read as eight
// big-endian 16-bit words, which are the first eight subkeys; the 128-bit
// key is then rotated left by 25 bits and the next eight words taken, and
// so on.
func expandKey(key []byte, z *[subkeys]uint16) {
	hi := binary.BigEndian.Uint64(key[0:8])
	lo := binary.BigEndian.Uint64(key[8:16])
	for i := 0; i < subkeys; i += 8 {
		for j := 0; j < 8 && i+j < subkeys; j++ {
			var w uint64
			if j < 4 {
				w = hi >> (48 - 16*j)
			} else {
				w = lo >> (48 - 16*(j-4))
			}
			z[i+j] = uint16(w)
		}
		hi, lo = hi<<25|lo>>39, lo<<25|hi>>39
	}
}

// invertKey computes the decryption subkeys from the encryption subkeys,
// so that crypt with them undoes crypt with z. Decryption round r (0..7)
// uses the inverses of the input keys of encryption stage 8-r (stage 8 is
// the output transformation) and the MA-structure keys of encryption round
// 7-r unchanged; the two additive keys are exchanged in every decryption
// round but the first, and in the decryption output transformation they
// are not, because of the swap of the middle words between rounds.
func invertKey(z, d *[subkeys]uint16) {
	for r := 0; r <= rounds; r++ {
		j := 6 * (rounds - r) // first key of encryption stage 8-r
		d[6*r+0] = mulInv(z[j+0])
		if r == 0 || r == rounds {
			d[6*r+1] = addInv(z[j+1])
			d[6*r+2] = addInv(z[j+2])
		} else {
			d[6*r+1] = addInv(z[j+2])
			d[6*r+2] = addInv(z[j+1])
		}
		d[6*r+3] = mulInv(z[j+3])
		if r < rounds {
			d[6*r+4] = z[j-2]
			d[6*r+5] = z[j-1]
		}
	}
}

// crypt runs the eight rounds and the output transformation over one block
// with the subkeys z (encryption or decryption subkeys).
func crypt(z *[subkeys]uint16, dst, src []byte) {
	x1 := binary.BigEndian.Uint16(src[0:2])
	x2 := binary.BigEndian.Uint16(src[2:4])
	x3 := binary.BigEndian.Uint16(src[4:6])
	x4 := binary.BigEndian.Uint16(src[6:8])

	for r := 0; r < rounds; r++ {
		k := z[6*r : 6*r+6 : 6*r+6]
		x1 = mul(x1, k[0])
		x2 += k[1]
		x3 += k[2]
		x4 = mul(x4, k[3])

		// The multiplication-addition (MA) structure.
		u := mul(x1^x3, k[4])
		v := mul((x2^x4)+u, k[5])
		w := u + v

		// Mix the MA output back in and swap the middle words.
		x1, x2, x3, x4 = x1^v, x3^v, x2^w, x4^w
	}

	// Output transformation; it undoes the last swap.
	k := z[6*rounds : subkeys : subkeys]
	y1 := mul(x1, k[0])
	y2 := x3 + k[1]
	y3 := x2 + k[2]
	y4 := mul(x4, k[3])

	binary.BigEndian.PutUint16(dst[0:2], y1)
	binary.BigEndian.PutUint16(dst[2:4], y2)
	binary.BigEndian.PutUint16(dst[4:6], y3)
	binary.BigEndian.PutUint16(dst[6:8], y4)
}
