package cbc_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/portknock/knock/cbc"
)

func TestDeriveKey(t *testing.T) {
	// MD5("knock"), then MD5 of that, as Crypt::CBC chains them (values
	// from Python's hashlib: md5(b"knock"), md5(md5(b"knock"))).
	got := hex.EncodeToString(cbc.DeriveKey("knock", 24))
	want := "4be17d184b54c2111dcb318921909b83" + "0e427ea961341588"
	if got != want {
		t.Fatalf("DeriveKey = %s, want %s", got, want)
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"blowfish": "Blowfish", "Crypt::Blowfish": "Blowfish", "AES": "Rijndael",
		"Twofish2": "Twofish", " des ": "DES", "IDEA": "IDEA",
	} {
		if got, err := cbc.Canonical(in); err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := cbc.Canonical("rot13")
	if err == nil || !strings.Contains(err.Error(), `"rot13"`) || !strings.Contains(err.Error(), "Blowfish") {
		t.Errorf("Canonical(rot13) error %v should quote the name and list the ciphers", err)
	}
}

// A short IV behaves as the same IV zero-extended, as in the prototype.
func TestShortIVIsZeroExtended(t *testing.T) {
	c, _ := cbc.New("Blowfish", "knock")
	plain := []byte{142, 103, 205, 1, 22, 5, 223}
	a := c.EncryptBlocks(plain, []byte("9137"))
	b := c.EncryptBlocks(plain, []byte("9137\x00\x00\x00\x00"))
	if !bytes.Equal(a, b) {
		t.Fatalf("short IV %x, zero-extended %x", a, b)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	for _, name := range cbc.Names() {
		c, err := cbc.New(name, "secret")
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 3*c.BlockSize(); n++ {
			plain := bytes.Repeat([]byte{byte(n)}, n)
			for _, random := range []bool{false, true} {
				var src *bytes.Reader
				if random {
					src = bytes.NewReader(bytes.Repeat([]byte{0xa5}, 64))
				}
				var sealed []byte
				if src != nil {
					sealed, err = c.Encrypt(plain, src)
				} else {
					sealed, err = c.Encrypt(plain, nil)
				}
				if err != nil {
					t.Fatal(err)
				}
				wantLen := c.CiphertextLen(n)
				if random {
					wantLen += len(cbc.Header) + c.BlockSize()
				}
				if len(sealed) != wantLen {
					t.Errorf("%s: %d bytes sealed to %d, want %d", name, n, len(sealed), wantLen)
				}
				got, iv, err := c.Decrypt(sealed)
				if err != nil || !bytes.Equal(got, plain) || (iv != nil) != random {
					t.Errorf("%s random=%v n=%d: Decrypt = %x, iv %x, %v", name, random, n, got, iv, err)
				}
			}
		}
	}
}

func TestDecryptShortIVs(t *testing.T) {
	for _, name := range cbc.Names() {
		c, _ := cbc.New(name, "secret")
		for l := 1; l <= c.BlockSize(); l++ {
			iv := bytes.Repeat([]byte{'7'}, l)
			sealed := c.EncryptIV([]byte("payload"), iv)
			got, gotIV, err := c.Decrypt(sealed)
			if err != nil || string(got) != "payload" || !bytes.Equal(gotIV, iv) {
				t.Errorf("%s IV length %d: %q %q %v", name, l, got, gotIV, err)
			}
		}
	}
}

func TestDecryptErrors(t *testing.T) {
	c, _ := cbc.New("Blowfish", "knock")
	if _, err := c.DecryptBlocks(make([]byte, 7), nil); !errors.Is(err, cbc.ErrLength) {
		t.Errorf("7 bytes: %v, want ErrLength", err)
	}
	if _, err := c.DecryptBlocks(nil, nil); !errors.Is(err, cbc.ErrLength) {
		t.Errorf("empty: %v, want ErrLength", err)
	}
	ct := c.EncryptBlocks([]byte("seven b"), []byte(cbc.FixedIV))
	wrong, _ := cbc.New("Blowfish", "knocks")
	if _, err := wrong.DecryptBlocks(ct, []byte(cbc.FixedIV)); !errors.Is(err, cbc.ErrPadding) {
		t.Errorf("wrong key: %v, want ErrPadding", err)
	}
}

func TestHeaderIVLen(t *testing.T) {
	c, _ := cbc.New("Blowfish", "k")
	for n, want := range map[int]int{20: 4, 24: 8, 17: 1, 32: 8, 16: 0, 8: 0} {
		got, ok := c.HeaderIVLen(n)
		if (want == 0) == ok || (ok && got != want) {
			t.Errorf("HeaderIVLen(%d) = %d, %v; want %d", n, got, ok, want)
		}
	}
}

// FuzzDecrypt feeds arbitrary bytes to the decryption of every cipher: it
// must never panic, and what it accepts must seal back to the same bytes.
func FuzzDecrypt(f *testing.F) {
	c, _ := cbc.New("Blowfish", "knock")
	f.Add([]byte{221, 169, 50, 219, 86, 117, 62, 187})
	f.Add(c.EncryptIV([]byte{142, 103, 205, 1, 22, 5, 223}, []byte("9137")))
	f.Add([]byte("RandomIV"))
	f.Add([]byte("RandomIV12345678"))
	ciphers := make([]*cbc.Cipher, 0)
	for _, n := range cbc.Names() {
		k, _ := cbc.New(n, "knock")
		ciphers = append(ciphers, k)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range ciphers {
			plain, iv, err := k.Decrypt(data)
			if err != nil {
				continue
			}
			var again []byte
			if iv == nil {
				again = k.EncryptBlocks(plain, []byte(cbc.FixedIV))
			} else {
				again = k.EncryptIV(plain, iv)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("%s: opened %x to %x, which seals to %x", k.Name(), data, plain, again)
			}
		}
	})
}
