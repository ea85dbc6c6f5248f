package format

import (
	"errors"
	"fmt"
	"net/netip"
)

// Errors from Pack and Unpack.
var (
	// ErrLength means the bytes are not as many as the format carries.
	ErrLength = errors.New("wrong number of bytes for the knock format")
	// ErrChecksum means a CHECKSUM field does not match the other fields.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrValue means a value cannot be carried by its field.
	ErrValue = errors.New("value does not fit the knock format")
)

// Pack lays out v as the format says. It computes the checksum; it fails
// when CLIENT is missing or not IPv4, when the port does not fit its field,
// or when a flag the format uses is not set.
func (f Format) Pack(v Values) ([]byte, error) {
	out := make([]byte, 0, f.size)
	return f.AppendPack(out, v)
}

// AppendPack is Pack appending to dst.
func (f Format) AppendPack(dst []byte, v Values) ([]byte, error) {
	start := len(dst)
	sum := 0
	for _, fl := range f.fields {
		var err error
		before := len(dst)
		dst, err = f.appendField(dst, fl, v)
		if err != nil {
			return nil, err
		}
		if fl.Kind != Checksum {
			for _, b := range dst[before:] {
				sum += int(b)
			}
		}
	}
	for i, off := 0, start; i < len(f.fields); i++ {
		if f.fields[i].Kind == Checksum {
			dst[off] = byte(sum % ChecksumModulus)
		}
		off += f.fields[i].Size()
	}
	return dst, nil
}

func (f Format) appendField(dst []byte, fl Field, v Values) ([]byte, error) {
	switch fl.Kind {
	case Client:
		a := v.Client.Unmap()
		if !a.IsValid() {
			return nil, fmt.Errorf("%w: the format has CLIENT but no client address is set", ErrValue)
		}
		if !a.Is4() {
			return nil, fmt.Errorf("%w: CLIENT holds an IPv4 address, and %s is IPv6 (the sealed knock carries IPv6)", ErrValue, a)
		}
		b := a.As4()
		return append(dst, b[:]...), nil
	case Port:
		if v.Port < 0 || v.Port > 255 {
			return nil, fmt.Errorf("%w: port %d does not fit the one-byte PORT field (0-255): write PORT16 in the knock format for ports above 255", ErrValue, v.Port)
		}
		return append(dst, byte(v.Port)), nil
	case Port16:
		if v.Port < 0 || v.Port > 65535 {
			return nil, fmt.Errorf("%w: port %d is outside 0-65535", ErrValue, v.Port)
		}
		return append(dst, byte(v.Port>>8), byte(v.Port)), nil
	case Flag:
		val, ok := v.Flags[fl.N]
		if !ok {
			return nil, fmt.Errorf("%w: the format has FLAG%d but flag%d is not set", ErrValue, fl.N, fl.N)
		}
		return append(dst, byte(mod256(val))), nil
	case Rand:
		return append(dst, byte(mod256(v.Rand))), nil
	case Checksum:
		return append(dst, 0), nil // filled in once the sum is known
	default:
		return append(dst, byte(mod256(v.Time.get(fl.Kind)))), nil
	}
}

func mod256(x int) int { return ((x % 256) + 256) % 256 }

// Unpack reads the fields of a knock from b. When a checksum does not
// match it still returns the values, with an error wrapping ErrChecksum, so
// that a caller can show what was received.
func (f Format) Unpack(b []byte) (Values, error) {
	var v Values
	if len(b) != f.size {
		return v, fmt.Errorf("%w: format %s takes %d bytes, got %d", ErrLength, f, f.size, len(b))
	}
	sum, off := 0, 0
	checks := 0
	for _, fl := range f.fields {
		n := fl.Size()
		field := b[off : off+n]
		off += n
		if fl.Kind == Checksum {
			checks++
			v.Checksum = int(field[0])
			continue
		}
		for _, c := range field {
			sum += int(c)
		}
		f.setField(&v, fl, field)
	}
	if checks == 0 {
		return v, nil
	}
	want := sum % ChecksumModulus
	for i, off := 0, 0; i < len(f.fields); i++ {
		if f.fields[i].Kind == Checksum && int(b[off]) != want {
			return v, fmt.Errorf("%w: the fields sum to %d mod %d, the knock says %d", ErrChecksum, want, ChecksumModulus, b[off])
		}
		off += f.fields[i].Size()
	}
	return v, nil
}

func (f Format) setField(v *Values, fl Field, field []byte) {
	switch fl.Kind {
	case Client:
		v.Client = netip.AddrFrom4([4]byte(field))
	case Port:
		v.Port = int(field[0])
	case Port16:
		v.Port = int(field[0])<<8 | int(field[1])
	case Flag:
		if v.Flags == nil {
			v.Flags = make(map[int]int, 2)
		}
		v.Flags[fl.N] = int(field[0])
	case Rand:
		v.Rand = int(field[0])
	default:
		v.Time.set(fl.Kind, int(field[0]))
	}
}
