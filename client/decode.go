package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/settings"
)

// Result is a decoded knock as -decode prints it: knock.Decoded, the
// shape knockdaemon -decode and the Knock Lab share. Its Values are the
// knock's fields in the order of the knock; Reason and Why say why it
// does not decode. The client gives no Verdict: the daemon decides.
type Result = knock.Decoded

// Field is one named value of a Result.
type Field = knock.Value

// DecodeLegacy decodes a legacy knock. The fields are the format's, named
// in lower case (client as a dotted address). A knock whose checksum fails
// is returned with Valid false and an error; any other failure returns no
// fields. Errors wrap ErrUndecodable and say the legacy.Reason.
func DecodeLegacy(c *legacy.Codec, ports []uint16) (Result, error) {
	v, err := c.Decode(ports)
	if err != nil && !errors.Is(err, legacy.ErrChecksum) {
		return Result{Reason: legacy.Reason(err), Why: err.Error()}, undecodable(legacy.Reason(err), err)
	}
	r := Result{Valid: err == nil, Values: legacyFields(c.Format(), v)}
	if err != nil {
		r.Reason, r.Why = legacy.Reason(err), err.Error()
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

func legacyFields(f format.Format, v legacy.Values) knock.Values {
	var out knock.Values
	seen := map[string]bool{}
	for _, fl := range f.Fields() {
		name := strings.ToLower(fl.String())
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, kv(name, v.Of(fl)))
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
		return Result{Reason: sealed.ReasonOf(err), Why: err.Error()}, undecodable(sealed.ReasonOf(err), err)
	}
	return OpenSealed(k, b, src, now, window)
}

// OpenSealed is DecodeSealed for a message already unmapped from ports.
func OpenSealed(k *sealed.Key, b []byte, src netip.Addr, now time.Time, window time.Duration) (Result, error) {
	m, err := sealed.OpenFrom(k, b, src, now, sealed.MaxWindow)
	if err != nil {
		r := Result{Reason: sealed.ReasonOf(err), Why: err.Error(), Values: knock.Values{kv("mode", "sealed")}}
		if errors.Is(err, sealed.ErrAuth) {
			r.Values = append(r.Values, clearFields(b)...)
			r.Values = append(r.Values, kv("tag", false))
		}
		return r, undecodable(r.Reason, err)
	}
	skew := m.Time.Unix() - now.Unix()
	r := Result{Values: knock.Values{
		kv("mode", "sealed"), kv("client", m.Client.String()), kv("implicit", m.Implicit),
		kv("port", m.Port), kv("proto", m.Proto), kv("duration", int64(m.Duration/time.Second)),
		kv("close", m.Close), kv("time", m.Time.Format(time.RFC3339)), kv("skew", skew),
		kv("nonce", m.Nonce), kv("tag", true),
	}}
	w := int64(window / time.Second)
	switch {
	case skew < -w:
		err = fmt.Errorf("%w: sealed %ds before now, the window is %v", sealed.ErrExpired, -skew, window)
	case skew > w:
		err = fmt.Errorf("%w: sealed %ds after now, the window is %v", sealed.ErrFuture, skew, window)
	default:
		r.Valid = true
		return r, nil
	}
	// As the daemon names it: a time outside the window is stale.
	r.Reason, r.Why = knock.ReasonStale, err.Error()
	return r, undecodable(r.Reason, err)
}

func kv(name string, v any) Field { return Field{Name: name, Value: v} }

// clearFields are what a sealed message carries in clear: its address.
func clearFields(b []byte) knock.Values {
	switch {
	case len(b) == sealed.SizeIPv4:
		return knock.Values{kv("client", netip.AddrFrom4([4]byte(b[1:5])).String())}
	case len(b) == sealed.SizeIPv6:
		return knock.Values{kv("client", netip.AddrFrom16([16]byte(b[1:17])).String())}
	}
	return knock.Values{kv("implicit", true)}
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
	out, jerr := json.Marshal(r)
	if jerr != nil {
		return jerr
	}
	fmt.Fprintf(c.env.Stdout, "%s\n", out)
	return err
}
