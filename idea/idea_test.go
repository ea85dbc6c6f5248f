package idea

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
)

type vector struct {
	line       int
	key        []byte
	plaintext  []byte
	ciphertext []byte
	source     string
}

// readVectors parses testdata/vectors.txt: "KEY PLAINTEXT CIPHERTEXT # source".
func readVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		data, source, ok := strings.Cut(line, "#")
		source = strings.TrimSpace(source)
		if !ok || source == "" {
			t.Fatalf("vectors.txt:%d: no source", n)
		}
		fields := strings.Fields(data)
		if len(fields) != 3 {
			t.Fatalf("vectors.txt:%d: want 3 hex fields, have %d", n, len(fields))
		}
		v := vector{line: n, source: source}
		for i, want := range []int{KeySize, BlockSize, BlockSize} {
			b, err := hex.DecodeString(fields[i])
			if err != nil || len(b) != want {
				t.Fatalf("vectors.txt:%d: field %d: want %d bytes of hex, have %q", n, i+1, want, fields[i])
			}
			switch i {
			case 0:
				v.key = b
			case 1:
				v.plaintext = b
			case 2:
				v.ciphertext = b
			}
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestVectors(t *testing.T) {
	vs := readVectors(t)
	if len(vs) < 20 {
		t.Fatalf("only %d vectors in testdata/vectors.txt", len(vs))
	}
	var sawSpec bool
	for _, v := range vs {
		name := fmt.Sprintf("line%d", v.line)
		t.Run(name, func(t *testing.T) {
			c, err := NewCipher(v.key)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, BlockSize)
			c.Encrypt(got, v.plaintext)
			if !bytes.Equal(got, v.ciphertext) {
				t.Errorf("Encrypt(key %X, %X) = %X, want %X (%s)", v.key, v.plaintext, got, v.ciphertext, v.source)
			}
			c.Decrypt(got, v.ciphertext)
			if !bytes.Equal(got, v.plaintext) {
				t.Errorf("Decrypt(key %X, %X) = %X, want %X (%s)", v.key, v.ciphertext, got, v.plaintext, v.source)
			}
			// In place, as cipher.Block allows.
			buf := bytes.Clone(v.plaintext)
			c.Encrypt(buf, buf)
			c.Decrypt(buf, buf)
			if !bytes.Equal(buf, v.plaintext) {
				t.Errorf("in-place round trip of %X under key %X gave %X", v.plaintext, v.key, buf)
			}
		})
		if hex.EncodeToString(v.key) == "00010002000300040005000600070008" &&
			hex.EncodeToString(v.plaintext) == "0000000100020003" &&
			hex.EncodeToString(v.ciphertext) == "11fbed2b01986de5" {
			sawSpec = true
		}
	}
	if !sawSpec {
		t.Error("the IDEA specification vector is missing from testdata/vectors.txt")
	}
}

func TestKeySizeError(t *testing.T) {
	for _, n := range []int{0, 1, 8, 15, 17, 24, 32} {
		c, err := NewCipher(make([]byte, n))
		if c != nil {
			t.Errorf("NewCipher(%d bytes) returned a cipher", n)
		}
		var kse KeySizeError
		if !errors.As(err, &kse) || int(kse) != n {
			t.Errorf("NewCipher(%d bytes) error = %v, want KeySizeError(%d)", n, err, n)
		}
	}
	if got, want := KeySizeError(5).Error(), "idea: invalid key size 5"; got != want {
		t.Errorf("KeySizeError(5).Error() = %q, want %q", got, want)
	}
	if _, err := NewCipher(make([]byte, KeySize)); err != nil {
		t.Errorf("NewCipher(%d bytes): %v", KeySize, err)
	}
}

func TestBlockSize(t *testing.T) {
	c, err := NewCipher(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if c.BlockSize() != BlockSize || BlockSize != 8 || KeySize != 16 {
		t.Errorf("BlockSize() = %d, BlockSize = %d, KeySize = %d", c.BlockSize(), BlockSize, KeySize)
	}
}

func TestShortBuffersPanic(t *testing.T) {
	c, err := NewCipher(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	full, short := make([]byte, BlockSize), make([]byte, BlockSize-1)
	for name, f := range map[string]func(){
		"Encrypt short src": func() { c.Encrypt(full, short) },
		"Encrypt short dst": func() { c.Encrypt(short, full) },
		"Decrypt short src": func() { c.Decrypt(full, short) },
		"Decrypt short dst": func() { c.Decrypt(short, full) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

// TestRoundTrip checks Decrypt(Encrypt(x)) == x and Encrypt(Decrypt(x)) == x
// for random keys and blocks, including partly overlapping buffers.
func TestRoundTrip(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	key := make([]byte, KeySize)
	buf := make([]byte, 2*BlockSize)
	for i := 0; i < n; i++ {
		rand.Read(key)
		rand.Read(buf[:BlockSize])
		x := bytes.Clone(buf[:BlockSize])
		c, err := NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		y := make([]byte, BlockSize)
		c.Encrypt(y, x)
		if bytes.Equal(y, x) {
			t.Logf("key %X fixes %X (possible, but unlikely)", key, x)
		}
		z := make([]byte, BlockSize)
		c.Decrypt(z, y)
		if !bytes.Equal(z, x) {
			t.Fatalf("key %X: Decrypt(Encrypt(%X)) = %X", key, x, z)
		}
		c.Decrypt(z, x)
		c.Encrypt(z, z)
		if !bytes.Equal(z, x) {
			t.Fatalf("key %X: Encrypt(Decrypt(%X)) = %X", key, x, z)
		}
		// Partial overlap: dst starts inside src.
		off := 1 + i%(BlockSize-1)
		c.Encrypt(buf[off:off+BlockSize], buf[:BlockSize])
		if !bytes.Equal(buf[off:off+BlockSize], y) {
			t.Fatalf("key %X: overlapping Encrypt(%X) = %X, want %X", key, x, buf[off:off+BlockSize], y)
		}
	}
}

// refMul is a plain big-integer reference for mul.
func refMul(a, b uint16) uint16 {
	widen := func(w uint16) int64 {
		if w == 0 {
			return 1 << 16
		}
		return int64(w)
	}
	p := new(big.Int).Mul(big.NewInt(widen(a)), big.NewInt(widen(b)))
	p.Mod(p, big.NewInt(1<<16+1))
	return uint16(p.Int64()) // 2^16 truncates to 0, its representation
}

// TestMul checks mul against the reference for every first operand and a
// spread of second operands (every word, both ways, would be 2^32 cases).
func TestMul(t *testing.T) {
	seconds := []uint16{0, 1, 2, 3, 0x00ff, 0x0100, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff}
	r := make([]byte, 2*8)
	rand.Read(r)
	for i := 0; i < len(r); i += 2 {
		seconds = append(seconds, uint16(r[i])<<8|uint16(r[i+1]))
	}
	for _, b := range seconds {
		bb := big.NewInt(int64(b))
		if b == 0 {
			bb.SetInt64(1 << 16)
		}
		m := big.NewInt(1<<16 + 1)
		p := new(big.Int)
		for a := 0; a < 1<<16; a++ {
			// Inline reference, cheaper than refMul in the hot loop.
			aa := int64(a)
			if a == 0 {
				aa = 1 << 16
			}
			p.SetInt64(aa)
			p.Mul(p, bb)
			p.Mod(p, m)
			want := uint16(p.Int64())
			if got := mul(uint16(a), b); got != want {
				t.Fatalf("mul(%#04x, %#04x) = %#04x, want %#04x", a, b, got, want)
			}
			if got := mul(b, uint16(a)); got != want {
				t.Fatalf("mul(%#04x, %#04x) = %#04x, want %#04x", b, a, got, want)
			}
		}
	}
	// Edge cases, written out: 0 stands for 2^16 ≡ -1.
	for _, c := range []struct{ a, b, want uint16 }{
		{0, 0, 1},              // (-1)(-1)
		{0, 1, 0},              // -1 ≡ 2^16
		{0, 2, 0xffff},         // -2
		{0xffff, 0xffff, 4},    // (-2)(-2)
		{0x8000, 2, 0},         // 2^16
		{0x8001, 2, 1},         // 2^16+2
		{0xffff, 0, 2},         // (-2)(-1)
		{0x0100, 0x0100, 0},    // 2^16
		{0x0100, 0x0101, 0xff}, // 2^16 + 2^8 ≡ 2^8 - 1
	} {
		if got := mul(c.a, c.b); got != c.want || got != refMul(c.a, c.b) {
			t.Errorf("mul(%#04x, %#04x) = %#04x, want %#04x (reference %#04x)", c.a, c.b, got, c.want, refMul(c.a, c.b))
		}
	}
}

// TestMulInv checks the multiplicative inverse of all 65536 words, and the
// additive inverse of all words.
func TestMulInv(t *testing.T) {
	for x := 0; x < 1<<16; x++ {
		w := uint16(x)
		inv := mulInv(w)
		if got := mul(w, inv); got != 1 {
			t.Fatalf("mul(%#04x, mulInv(%#04x) = %#04x) = %#04x, want 1", w, w, inv, got)
		}
		if mulInv(inv) != w {
			t.Fatalf("mulInv(mulInv(%#04x)) = %#04x", w, mulInv(inv))
		}
		if got := w + addInv(w); got != 0 {
			t.Fatalf("%#04x + addInv(%#04x) = %#04x, want 0", w, w, got)
		}
	}
	if mulInv(0) != 0 || mulInv(1) != 1 || mulInv(0xffff) != 0x8000 {
		t.Errorf("mulInv(0, 1, 0xffff) = %#04x, %#04x, %#04x; want 0, 1, 0x8000", mulInv(0), mulInv(1), mulInv(0xffff))
	}
}

// TestKeySchedule checks the first sixteen subkeys of the specification's
// key against the rotation rule: words 1..8 of the key, then the key
// rotated left by 25 bits.
func TestKeySchedule(t *testing.T) {
	key, _ := hex.DecodeString("00010002000300040005000600070008")
	var z [subkeys]uint16
	expandKey(key, &z)
	want := []uint16{1, 2, 3, 4, 5, 6, 7, 8, 0x0400, 0x0600, 0x0800, 0x0a00, 0x0c00, 0x0e00, 0x1000, 0x0200}
	for i, w := range want {
		if z[i] != w {
			t.Errorf("subkey %d = %#04x, want %#04x", i+1, z[i], w)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	c, err := NewCipher(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, BlockSize)
	if n := testing.AllocsPerRun(100, func() {
		c.Encrypt(buf, buf)
		c.Decrypt(buf, buf)
	}); n != 0 {
		t.Errorf("Encrypt+Decrypt allocate %v times", n)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	c, err := NewCipher(make([]byte, KeySize))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, BlockSize)
	b.SetBytes(BlockSize)
	b.ReportAllocs()
	for b.Loop() {
		c.Encrypt(buf, buf)
	}
}

func BenchmarkDecrypt(b *testing.B) {
	c, err := NewCipher(make([]byte, KeySize))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, BlockSize)
	b.SetBytes(BlockSize)
	b.ReportAllocs()
	for b.Loop() {
		c.Decrypt(buf, buf)
	}
}

func BenchmarkNewCipher(b *testing.B) {
	key := make([]byte, KeySize)
	rand.Read(key)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewCipher(key); err != nil {
			b.Fatal(err)
		}
	}
}
