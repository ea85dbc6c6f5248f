package lab

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/legacy"
)

// Result is one knock laid out for people: every stage of it, its bytes
// labelled with what they are (for the legacy knock, a legacy.Trace). The
// page renders it and the JSON API returns it as is, so both show the
// same thing.
type Result struct {
	Mode          string            `json:"mode"`           // "legacy" or "sealed"
	Action        string            `json:"action"`         // "encode" or "decode"
	OK            bool              `json:"ok"`             // false: a decode that failed, shown as far as it got
	Format        string            `json:"format"`         // legacy: the knock format; sealed: the message's kind
	FormatDerived bool              `json:"format_derived"` // chosen by the lab from the fields given
	Cipher        string            `json:"cipher"`
	Span          string            `json:"span"`
	SpanSize      int               `json:"span_size"`
	Bits          int               `json:"bits"` // N: bits per port
	Notes         []string          `json:"notes,omitempty"`
	Values        map[string]any    `json:"values,omitempty"` // by field name: "CLIENT", "PORT", "FLAG0", ...; sealed: "client", "port", ...
	Fields        map[string]string `json:"fields,omitempty"` // decode: the form fields to fill back
	Plain         []int             `json:"plain"`            // the fields as bytes
	PlainParts    []Part            `json:"plain_parts"`
	Sealed        []int             `json:"sealed"` // what is mapped onto ports
	SealedParts   []Part            `json:"sealed_parts"`
	IV            string            `json:"iv,omitempty"` // hex
	Groups        []Group           `json:"groups"`
	Datagram      []int             `json:"datagram,omitempty"` // sealed SPA: the UDP payload
	DatagramParts []Part            `json:"datagram_parts,omitempty"`
	Ports         []int             `json:"ports"`
	Sequence      string            `json:"sequence"`
}

// MarshalJSON adds to the Lab's keys "valid", spelt and meant as in
// knock.Decoded, the shape knockclient -decode and knockdaemon -decode
// print: the knock decoded and its checksum (or tag, and time) holds. The
// Lab's "values" are that shape's values; its "ok" says the same as
// "valid" and stays for the page.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		Valid bool `json:"valid"`
	}{plain(r), r.OK})
}

// Part is a labelled run of bytes: one field of the knock, the padding,
// the RandomIV header, the IV or the ciphertext.
type Part struct {
	Name  string `json:"name"`           // "CLIENT", "padding", "RandomIV", "IV", "ciphertext"
	Kind  string `json:"kind"`           // for colours: client, port, flag, rand, time, checksum, padding, header, iv, ciphertext, plain
	Role  string `json:"role,omitempty"` // what the form calls it: "IP", "time flag", "mask"
	Text  string `json:"text,omitempty"` // the value as people write it
	Start int    `json:"start"`          // offset of the first byte
	Bytes []int  `json:"bytes"`
}

// Group is one N-bit group of the sealed bytes and the port it becomes.
type Group struct {
	Index  int       `json:"index"` // 1 for the first port of the knock
	Bits   []Segment `json:"bits"`
	Symbol int       `json:"symbol"` // the group's value: the position in the span
	Port   int       `json:"port"`
}

// Segment is the part of a group that comes from one byte.
type Segment struct {
	Bits string `json:"bits"`
	Byte int    `json:"byte"` // index into Sealed
	Kind string `json:"kind"` // the kind of the part the byte belongs to
}

// newResult lays out a trace made or read by codec c. Stages the trace did
// not reach (a knock that failed to decrypt has no plain bytes) stay empty.
func newResult(action string, c *legacy.Codec, tr legacy.Trace) *Result {
	r := &Result{
		Mode: "legacy", Action: action, Format: c.Format().String(), Cipher: c.Cipher(),
		Span: c.Span().String(), SpanSize: c.Span().Size(), Bits: c.Span().Bits(),
		Plain: ints(tr.Plain), Sealed: ints(tr.Sealed), Ports: ints16(tr.Ports),
		Sequence: joinPorts(tr.Ports),
	}
	if tr.IV != nil {
		r.IV = hex.EncodeToString(tr.IV)
	}
	if tr.Plain != nil {
		r.PlainParts = plainParts(c.Format(), tr)
		r.Values = valuesOf(c.Format(), tr.Values)
	}
	if tr.Sealed != nil {
		r.SealedParts = sealedParts(c.Cipher(), tr)
		r.Groups = groups(tr.Sealed, tr.Symbols, tr.Ports, r.SealedParts, c.Span().Bits())
	}
	return r
}

// roles are what the page's fields are called in the knock format.
var roles = map[string]string{
	"CLIENT": "IP", "PORT": "port", "PORT16": "port", "FLAG0": "time flag", "FLAG1": "mask",
	"RAND": "random byte", "CHECKSUM": "checksum",
	"THISYEAR": "clock", "THISDAY": "clock", "THISHOUR": "clock", "THISMINUTE": "clock", "THISSECOND": "clock",
}

func plainParts(f format.Format, tr legacy.Trace) []Part {
	var parts []Part
	off := 0
	for _, fl := range f.Fields() {
		n := fl.Size()
		if off+n > len(tr.Plain) {
			break
		}
		name := fl.String()
		parts = append(parts, Part{
			Name: name, Kind: kindOf(fl.Kind), Role: roles[name],
			Text: fieldText(fl, tr.Values), Start: off, Bytes: ints(tr.Plain[off : off+n]),
		})
		off += n
	}
	if pad := paddingLen(tr); pad > 0 {
		b := make([]int, pad)
		for i := range b {
			b[i] = pad
		}
		parts = append(parts, Part{Name: "padding", Kind: "padding", Role: "PKCS#5",
			Text: paddingText(pad), Start: off, Bytes: b})
	}
	return parts
}

func paddingText(pad int) string {
	if pad == 1 {
		return "1 byte of value 1, added by encryption"
	}
	return fmt.Sprintf("%d bytes of value %d, added by encryption", pad, pad)
}

// paddingLen is how many bytes of PKCS#5 padding encryption added: the
// ciphertext's length less the plain bytes'.
func paddingLen(tr legacy.Trace) int {
	ct := len(tr.Sealed) - headerLen(tr)
	if tr.Plain == nil || ct <= len(tr.Plain) {
		return 0
	}
	return ct - len(tr.Plain)
}

func headerLen(tr legacy.Trace) int {
	if tr.IV == nil {
		return 0
	}
	return len(cbc.Header) + len(tr.IV)
}

func sealedParts(cipher string, tr legacy.Trace) []Part {
	if cipher == "none" {
		return []Part{{Name: "not encrypted", Kind: "plain", Text: "the plain bytes as they are", Bytes: ints(tr.Sealed)}}
	}
	var parts []Part
	ctStart := 0
	if tr.IV != nil {
		h := len(cbc.Header)
		parts = append(parts,
			Part{Name: "RandomIV", Kind: "header", Text: "the header that says an IV follows", Bytes: ints(tr.Sealed[:h])},
			Part{Name: "IV", Kind: "iv", Text: ivText(tr.IV), Start: h, Bytes: ints(tr.IV)})
		ctStart = h + len(tr.IV)
	}
	iv := "the fixed IV " + cbc.FixedIV
	if tr.IV != nil {
		iv = "CBC from the IV"
	}
	return append(parts, Part{Name: "ciphertext", Kind: "ciphertext", Text: cipher + ", " + iv,
		Start: ctStart, Bytes: ints(tr.Sealed[ctStart:])})
}

// groups cuts the sealed bytes into the N-bit groups that became ports;
// parts give each byte its kind.
func groups(sealed []byte, symbols []int, ports []uint16, parts []Part, n int) []Group {
	if len(symbols) != len(ports) {
		return nil
	}
	kinds := make([]string, len(sealed))
	for _, p := range parts {
		for i := range p.Bytes {
			kinds[p.Start+i] = p.Kind
		}
	}
	total := 8 * len(sealed)
	out := make([]Group, 0, len(ports))
	for i, p := range ports {
		start, end := i*n, min((i+1)*n, total)
		out = append(out, Group{Index: i + 1, Bits: segments(sealed, kinds, start, end),
			Symbol: symbols[i], Port: int(p)})
	}
	return out
}

// segments returns bits [start, end) of b, split where a byte ends.
func segments(b []byte, kinds []string, start, end int) []Segment {
	var out []Segment
	for bit := start; bit < end; {
		i := bit / 8
		stop := min(end, 8*(i+1))
		var s strings.Builder
		for ; bit < stop; bit++ {
			s.WriteByte('0' + b[i]>>(7-bit%8)&1)
		}
		out = append(out, Segment{Bits: s.String(), Byte: i, Kind: kinds[i]})
	}
	return out
}

func kindOf(k format.Kind) string {
	switch k {
	case format.Client:
		return "client"
	case format.Port, format.Port16:
		return "port"
	case format.Flag:
		return "flag"
	case format.Rand:
		return "rand"
	case format.Checksum:
		return "checksum"
	}
	return "time"
}

// fieldText is a field's value as people write it.
func fieldText(fl format.Field, v legacy.Values) string {
	x := v.Of(fl)
	switch fl.Kind {
	case format.Client:
		return v.Client.String()
	case format.Port, format.Port16:
		if name := serviceName(v.Port); name != "" {
			return fmt.Sprintf("%d (%s)", v.Port, name)
		}
	case format.Flag:
		if fl.N == 1 && x.(int) <= 32 {
			return fmt.Sprintf("%d (/%d)", x, x)
		}
	}
	return fmt.Sprint(x)
}

func valuesOf(f format.Format, v legacy.Values) map[string]any {
	out := map[string]any{}
	for _, fl := range f.Fields() {
		out[fl.String()] = v.Of(fl)
	}
	return out
}

// valuesText lists the values of a knock, for error messages.
func valuesText(f format.Format, v legacy.Values) string {
	var parts []string
	for _, fl := range f.Fields() {
		parts = append(parts, fl.String()+" "+fmt.Sprint(v.Of(fl)))
	}
	return strings.Join(parts, ", ")
}

// ivText shows an IV as text when it is printable ASCII, as the
// prototype's pages wrote IVs ("9137"), and in hex otherwise.
func ivText(iv []byte) string {
	for _, c := range iv {
		if c < 0x21 || c > 0x7e {
			return "hex " + hex.EncodeToString(iv)
		}
	}
	return strconv.Quote(string(iv))
}

func ints(b []byte) []int {
	if b == nil {
		return nil
	}
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

func ints16(p []uint16) []int {
	out := make([]int, len(p))
	for i, x := range p {
		out[i] = int(x)
	}
	return out
}

func joinPorts(p []uint16) string {
	s := make([]string, len(p))
	for i, x := range p {
		s[i] = strconv.Itoa(int(x))
	}
	return strings.Join(s, " ")
}
