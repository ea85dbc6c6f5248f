// Package format is the knock format of the Perl prototype: a list of fields
// such as "CLIENT,PORT,FLAG0,CHECKSUM" that says which bytes a knock carries,
// in which order, before it is encrypted and mapped onto ports.
//
// The fields and their sizes:
//
//	CLIENT (alias IP)  4 bytes, the IPv4 address the knock asks access for
//	PORT               1 byte, the port to act on (0-255), as the prototype
//	PORT16             2 bytes, big-endian: the port for ports above 255
//	FLAGn              1 byte, n = 0, 1, ...: any value, taken mod 256
//	RAND               1 byte of randomness
//	THISYEAR           year mod 256
//	THISDAY            day of the year (1 January = 1) mod 256
//	THISHOUR           24*day of the month + hour, mod 256
//	THISMINUTE         60*hour + minute, mod 256
//	THISSECOND         Unix seconds mod 256
//	CHECKSUM           sum of all non-checksum bytes mod 255
//
// PORT keeps the prototype's one-byte form byte for byte; a port that does not
// fit it is an error, never reduced. PORT16 is this project's extension for
// ports above 255: both ends read the format from their configuration, so
// they agree on it. The checksum is mod 255 as the prototype's worked
// examples compute it (its manual says 256 but its own example uses 255);
// several CHECKSUM fields all carry the same value.
package format

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Kind is the kind of a field.
type Kind uint8

// The field kinds, named as the prototype's manual names them.
const (
	Client Kind = iota
	Port
	Port16
	Flag
	Rand
	ThisYear
	ThisDay
	ThisHour
	ThisMinute
	ThisSecond
	Checksum
)

// MaxFlag is the highest flag number FLAGn accepts.
const MaxFlag = 255

// ChecksumModulus is the modulus of the CHECKSUM field.
const ChecksumModulus = 255

var names = map[Kind]string{
	Client: "CLIENT", Port: "PORT", Port16: "PORT16", Flag: "FLAG", Rand: "RAND",
	ThisYear: "THISYEAR", ThisDay: "THISDAY", ThisHour: "THISHOUR",
	ThisMinute: "THISMINUTE", ThisSecond: "THISSECOND", Checksum: "CHECKSUM",
}

var byName = map[string]Kind{
	"CLIENT": Client, "IP": Client, "PORT": Port, "PORT16": Port16, "RAND": Rand,
	"THISYEAR": ThisYear, "THISDAY": ThisDay, "THISHOUR": ThisHour,
	"THISMINUTE": ThisMinute, "THISSECOND": ThisSecond, "CHECKSUM": Checksum,
}

// Field is one field of a format.
type Field struct {
	Kind Kind
	N    int // the flag number, for Flag fields
}

// String returns the field's name as a format writes it.
func (f Field) String() string {
	if f.Kind == Flag {
		return "FLAG" + strconv.Itoa(f.N)
	}
	return names[f.Kind]
}

// Size is the number of bytes the field takes.
func (f Field) Size() int {
	switch f.Kind {
	case Client:
		return 4
	case Port16:
		return 2
	}
	return 1
}

// Format is a parsed knock format.
type Format struct {
	fields []Field
	size   int
}

// ErrUnknownField is wrapped by Parse errors for names it does not know.
var ErrUnknownField = errors.New("unknown knock field")

// Parse reads a format such as "CLIENT,PORT,FLAG0,CHECKSUM". Names are case
// insensitive and may be separated by commas, spaces or both.
func Parse(s string) (Format, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(parts) == 0 {
		return Format{}, fmt.Errorf("empty knock format: expected fields such as \"CLIENT,PORT,CHECKSUM\"")
	}
	var f Format
	for _, p := range parts {
		fl, err := parseField(p)
		if err != nil {
			return Format{}, fmt.Errorf("knock format %q: %w", s, err)
		}
		// A field twice would carry two values that decoding cannot
		// reconcile; only CHECKSUM may repeat, with one value.
		if fl.Kind != Checksum && slices.Contains(f.fields, fl) {
			return Format{}, fmt.Errorf("knock format %q: %s appears twice (only CHECKSUM may repeat)", s, fl)
		}
		f.fields = append(f.fields, fl)
		f.size += fl.Size()
	}
	if f.Has(Port) && f.Has(Port16) {
		return Format{}, fmt.Errorf("knock format %q: PORT and PORT16 together: use one of them", s)
	}
	return f, nil
}

func parseField(p string) (Field, error) {
	up := strings.ToUpper(p)
	if k, ok := byName[up]; ok {
		return Field{Kind: k}, nil
	}
	if num, ok := strings.CutPrefix(up, "FLAG"); ok {
		n, err := strconv.Atoi(num)
		if err == nil && n >= 0 && n <= MaxFlag && strconv.Itoa(n) == num {
			return Field{Kind: Flag, N: n}, nil
		}
		return Field{}, fmt.Errorf("%w %q: flags are FLAG0 to FLAG%d", ErrUnknownField, p, MaxFlag)
	}
	return Field{}, fmt.Errorf("%w %q: expected one of CLIENT (or IP), PORT, PORT16, FLAGn, RAND, THISYEAR, THISDAY, THISHOUR, THISMINUTE, THISSECOND, CHECKSUM", ErrUnknownField, p)
}

// MustParse is Parse for formats known at compile time; it panics on error.
func MustParse(s string) Format {
	f, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return f
}

// Fields returns the fields in order.
func (f Format) Fields() []Field { return append([]Field(nil), f.fields...) }

// Len is the number of bytes a knock of this format carries.
func (f Format) Len() int { return f.size }

// Has reports whether the format has a field of kind k.
func (f Format) Has(k Kind) bool {
	for _, fl := range f.fields {
		if fl.Kind == k {
			return true
		}
	}
	return false
}

// HasTime reports whether the format carries any THIS* field.
func (f Format) HasTime() bool {
	for _, fl := range f.fields {
		if fl.Kind >= ThisYear && fl.Kind <= ThisSecond {
			return true
		}
	}
	return false
}

// Flags returns the flag numbers the format uses, in order.
func (f Format) Flags() []int {
	var out []int
	for _, fl := range f.fields {
		if fl.Kind == Flag {
			out = append(out, fl.N)
		}
	}
	return out
}

// String returns the canonical form, such as "CLIENT,PORT,FLAG0,CHECKSUM".
func (f Format) String() string {
	s := make([]string, len(f.fields))
	for i, fl := range f.fields {
		s[i] = fl.String()
	}
	return strings.Join(s, ",")
}

// IsZero reports whether f is the zero Format (not parsed).
func (f Format) IsZero() bool { return len(f.fields) == 0 }

// Values are the contents of a knock. For packing, Checksum is ignored (it
// is computed); for unpacking, every field of the format is filled in.
type Values struct {
	Client netip.Addr  // CLIENT: an IPv4 address
	Port   int         // PORT or PORT16
	Flags  map[int]int // FLAGn: Flags[n]; values are taken mod 256
	Rand   int         // RAND
	Time   Times       // THIS* fields
	// Checksum is the CHECKSUM value the knock carried (on unpacking).
	Checksum int
}

// Flag returns FLAGn, or 0 if it is not set.
func (v Values) Flag(n int) int { return v.Flags[n] }

// Of returns the value field f has in v, as the programs show it: the
// client address as text, every other field as a number.
func (v Values) Of(f Field) any {
	switch f.Kind {
	case Client:
		return v.Client.String()
	case Port, Port16:
		return v.Port
	case Flag:
		return v.Flag(f.N)
	case Rand:
		return v.Rand
	case Checksum:
		return v.Checksum
	}
	return v.Time.get(f.Kind)
}
