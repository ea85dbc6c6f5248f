package legacy

import (
	"fmt"
	"io"

	"github.com/portknock/knock/format"
)

// Trace is every stage of one knock, for people who want to see how it is
// made (the Knock Lab) and for tests.
type Trace struct {
	Plain   []byte   // the fields as bytes, checksum included
	Sealed  []byte   // what is mapped onto ports: header, IV and ciphertext, or Plain
	IV      []byte   // the IV in the RandomIV header, nil without one
	Symbols []int    // the N-bit groups of Sealed
	Ports   []uint16 // the knock sequence
	Values  Values   // the values as they went into Plain
}

// Encode builds the knock for v. RAND and the THIS* fields are filled in
// from the codec's randomness and clock, and the checksum is computed.
func (c *Codec) Encode(v Values) ([]uint16, error) {
	t, err := c.Trace(v)
	if err != nil {
		return nil, err
	}
	return t.Ports, nil
}

// Trace is Encode returning every stage.
func (c *Codec) Trace(v Values) (Trace, error) {
	if err := c.stamp(&v); err != nil {
		return Trace{}, err
	}
	var iv []byte
	if c.iv {
		iv = make([]byte, c.cipher.BlockSize())
		if _, err := io.ReadFull(c.rand, iv); err != nil {
			return Trace{}, fmt.Errorf("drawing an IV: %w", err)
		}
	}
	return c.trace(v, iv)
}

// TraceWithIV encodes v exactly as given, with the IV given, short IVs as
// the prototype's pages used included: nothing is drawn from the clock or
// randomness. A nil IV means the fixed IV, without header. It is for test
// vectors and the Knock Lab; real knocks should come from Encode.
func (c *Codec) TraceWithIV(v Values, iv []byte) (Trace, error) {
	if iv != nil && c.cipher == nil {
		return Trace{}, fmt.Errorf("an IV needs encryption: no cipher is set")
	}
	if iv != nil && (len(iv) == 0 || len(iv) > c.cipher.BlockSize()) {
		return Trace{}, fmt.Errorf("IV of %d bytes: %s takes 1 to %d", len(iv), c.cipher.Name(), c.cipher.BlockSize())
	}
	return c.trace(v, iv)
}

// stamp fills RAND and the THIS* fields that the format carries.
func (c *Codec) stamp(v *Values) error {
	if c.format.Has(format.Rand) {
		var b [1]byte
		if _, err := io.ReadFull(c.rand, b[:]); err != nil {
			return fmt.Errorf("drawing RAND: %w", err)
		}
		v.Rand = int(b[0])
	}
	if c.format.HasTime() {
		now := c.now()
		if c.loc != nil {
			now = now.In(c.loc)
		}
		v.Time = format.Stamp(now)
	}
	return nil
}

func (c *Codec) trace(v Values, iv []byte) (Trace, error) {
	plain, err := c.format.Pack(v)
	if err != nil {
		return Trace{}, err
	}
	t := Trace{Plain: plain, Sealed: plain, IV: iv, Values: v}
	t.Values.Checksum = checksumOf(c.format, plain)
	if c.cipher != nil {
		if iv == nil {
			t.Sealed, err = c.cipher.Encrypt(plain, nil)
			if err != nil {
				return Trace{}, err
			}
		} else {
			t.Sealed = c.cipher.EncryptIV(plain, iv)
		}
	}
	t.Ports = c.span.Pack(t.Sealed)
	t.Symbols = make([]int, len(t.Ports))
	for i, p := range t.Ports {
		t.Symbols[i], _ = c.span.Index(p)
	}
	return t, nil
}

// checksumOf returns the value of the first CHECKSUM field, or 0.
func checksumOf(f format.Format, plain []byte) int {
	off := 0
	for _, fl := range f.Fields() {
		if fl.Kind == format.Checksum {
			return int(plain[off])
		}
		off += fl.Size()
	}
	return 0
}
