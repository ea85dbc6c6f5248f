package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
)

// Result is a decoded knock as -decode prints it: its fields in the order
// of the knock, then whether it is valid and, if not, the reason.
type Result struct {
	Fields []Field
	Valid  bool
	Reason knock.Reason // why it does not decode; "" when valid
}

// Field is one named value of a Result.
type Field struct {
	Name  string
	Value any
}

// Get returns the value of the field name, nil if absent.
func (r Result) Get(name string) any {
	for _, f := range r.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return nil
}

// MarshalJSON writes one object, keys in order.
func (r Result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	fields := append(slices.Clip(r.Fields), Field{"valid", r.Valid})
	if r.Reason != "" {
		fields = append(fields, Field{"reason", r.Reason})
	}
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Name)
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// DecodeLegacy decodes a legacy knock. The fields are the format's, named
// in lower case (client as a dotted address). A knock whose checksum fails
// is returned with Valid false and an error; any other failure returns no
// fields. Errors wrap ErrUndecodable and say the legacy.Reason.
func DecodeLegacy(c *legacy.Codec, ports []uint16) (Result, error) {
	v, err := c.Decode(ports)
	if err != nil && !errors.Is(err, legacy.ErrChecksum) {
		return Result{Reason: legacy.Reason(err)}, undecodable(legacy.Reason(err), err)
	}
	r := Result{Valid: err == nil, Fields: legacyFields(c.Format(), v)}
	if err != nil {
		r.Reason = legacy.Reason(err)
		return r, undecodable(r.Reason, err)
	}
	return r, nil
}

func undecodable(reason knock.Reason, err error) error {
	if reason == "" {
		return fmt.Errorf("%w: %w", ErrUndecodable, err)
	}
	return fmt.Errorf("%w (%s): %w", ErrUndecodable, reason, err)
}

func legacyFields(f format.Format, v legacy.Values) []Field {
	var out []Field
	seen := map[string]bool{}
	for _, fl := range f.Fields() {
		name := strings.ToLower(fl.String())
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, Field{name, v.Of(fl)})
	}
	return out
}

// DecodeSealed decodes a sealed knock sent over span. The tag is checked
// with k (src is the address an implicit message is authenticated
// against); the time must lie within window of now. An authentic message
// outside the window is returned with Valid false and an error; a message
// whose tag fails is returned with only what travels in clear. Errors
// wrap ErrUndecodable and say the sealed.Reason.
func DecodeSealed(k *sealed.Key, span *portspan.Span, ports []uint16, src netip.Addr, now time.Time, window time.Duration) (Result, error) {
	b, err := sealed.Decode(span, ports)
	if err != nil {
		return Result{Reason: knock.Reason(sealed.Reason(err))}, undecodable(knock.Reason(sealed.Reason(err)), err)
	}
	return OpenSealed(k, b, src, now, window)
}

// OpenSealed is DecodeSealed for a message already unmapped from ports.
func OpenSealed(k *sealed.Key, b []byte, src netip.Addr, now time.Time, window time.Duration) (Result, error) {
	m, err := sealed.OpenFrom(k, b, src, now, sealed.MaxWindow)
	if err != nil {
		r := Result{Reason: knock.Reason(sealed.Reason(err)), Fields: []Field{{"mode", "sealed"}}}
		if errors.Is(err, sealed.ErrAuth) {
			r.Fields = append(r.Fields, clearFields(b)...)
			r.Fields = append(r.Fields, Field{"tag", false})
		}
		return r, undecodable(r.Reason, err)
	}
	skew := m.Time.Unix() - now.Unix()
	r := Result{Fields: []Field{
		{"mode", "sealed"}, {"client", m.Client.String()}, {"implicit", m.Implicit},
		{"port", m.Port}, {"proto", m.Proto}, {"duration", int64(m.Duration / time.Second)},
		{"close", m.Close}, {"time", m.Time.Format(time.RFC3339)}, {"skew", skew},
		{"nonce", m.Nonce}, {"tag", true},
	}}
	w := int64(window / time.Second)
	switch {
	case skew < -w:
		r.Reason = "expired"
		err = fmt.Errorf("%w: sealed %ds before now, the window is %v", sealed.ErrExpired, -skew, window)
	case skew > w:
		r.Reason = "future"
		err = fmt.Errorf("%w: sealed %ds after now, the window is %v", sealed.ErrFuture, skew, window)
	default:
		r.Valid = true
		return r, nil
	}
	return r, undecodable(r.Reason, err)
}

// clearFields are what a sealed message carries in clear: its address.
func clearFields(b []byte) []Field {
	switch {
	case len(b) == sealed.SizeIPv4:
		return []Field{{"client", netip.AddrFrom4([4]byte(b[1:5])).String()}}
	case len(b) == sealed.SizeIPv6:
		return []Field{{"client", netip.AddrFrom16([16]byte(b[1:17])).String()}}
	}
	return []Field{{"implicit", true}}
}

// Decode decodes a knock sequence with the configuration's mode, format,
// cipher, key and span, and writes the Result to Stdout as one JSON
// object: also when the knock decodes but is not valid (a failed
// checksum, a failed tag, a time outside the window), which still returns
// an error wrapping ErrUndecodable. A sealed knock's time is checked
// against the window setting, as the daemon checks it.
func (c *Client) Decode(text string) error {
	mode, err := c.s.Mode()
	if err != nil {
		return err
	}
	var decode func([]uint16) (Result, error)
	if mode == settings.ModeLegacy {
		codec, err := c.s.LegacyCodec()
		if err != nil {
			return err
		}
		c.debugf(1, "decoding with %s, format %s, span %s", codec.Cipher(), codec.Format(), codec.Span())
		decode = func(ports []uint16) (Result, error) { return DecodeLegacy(codec, ports) }
	} else {
		span, err := c.s.Span()
		if err != nil {
			return err
		}
		key, err := c.s.SealedKey()
		if err != nil {
			return err
		}
		src, _ := netip.ParseAddr(c.s.String("client")) // for implicit messages only
		now := c.env.Clock.Now()
		decode = func(ports []uint16) (Result, error) {
			return DecodeSealed(key, span, ports, src, now, c.s.Duration("window"))
		}
	}
	ports, err := ParseSequence(text)
	if err != nil {
		return err
	}
	r, err := decode(ports)
	if r.Fields != nil {
		out, jerr := json.Marshal(r)
		if jerr != nil {
			return jerr
		}
		fmt.Fprintf(c.env.Stdout, "%s\n", out)
	}
	return err
}
