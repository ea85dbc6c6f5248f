package legacy

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/portspan"
)

// Protocol is the legacy knock as the engine reads it: a sequence of
// ports over the span, decoded by a Codec, then checked against the time
// window.
type Protocol struct {
	Codec *Codec
	// Users, when set, are the users' codecs: the same format, cipher and
	// span as Codec, each with its user's key. A candidate is tried under
	// each key in turn (the legacy knock has nothing that names its
	// user), so the cost of a candidate grows with the number of users.
	Users []UserCodec
	// TimeField is the field that carries the minutes to stay open, such
	// as "FLAG0" (the prototype's TIME); "" for the configured default.
	// A value of 0 closes the port.
	TimeField string
	// CloseField is a field whose non-zero value makes a closing knock.
	CloseField string
	// Window is how far the THIS* fields may be from the daemon's clock.
	Window time.Duration
	// ReplayTTL is how long a knock without THIS* fields is remembered.
	ReplayTTL time.Duration
	// Location is the time zone of THIS* fields (the clock's when nil).
	Location *time.Location
}

// UserCodec is one user's legacy codec.
type UserCodec struct {
	User  string
	Codec *Codec
}

// FieldError is a Protocol configuration CheckFields refused, with the
// setting at fault: "timefield", "closefield" or "knock".
type FieldError struct {
	Setting string
	Err     error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// CheckFields validates TimeField and CloseField against the format, and
// that the format names a port.
func (l *Protocol) CheckFields() error {
	f := l.Codec.Format()
	for setting, name := range map[string]string{"timefield": l.TimeField, "closefield": l.CloseField} {
		if name != "" && !HasField(f, name) {
			return &FieldError{setting, fmt.Errorf("field %q is not in the knock format %q (write none for no field)", name, f)}
		}
	}
	if !f.Has(format.Port) && !f.Has(format.Port16) {
		return &FieldError{"knock", fmt.Errorf("knock format %q has no PORT or PORT16 field: the daemon would not know which port to open", f)}
	}
	return nil
}

// HasField reports whether f has the field called name, in any case.
func HasField(f format.Format, name string) bool {
	for _, fl := range f.Fields() {
		if strings.EqualFold(fl.String(), name) {
			return true
		}
	}
	return false
}

// Name implements engine.Protocol.
func (l *Protocol) Name() knock.Protocol { return knock.Legacy }

// Span implements engine.SpanProtocol.
func (l *Protocol) KnockSpan() *portspan.Span { return l.Codec.Span() }

// Lengths implements engine.SpanProtocol.
func (l *Protocol) Lengths() []int { return l.Codec.Lengths() }

// Skip implements engine.SpanProtocol: the legacy knock may not skip foreign knocks,
// since every extra candidate is another chance for garbage to decode.
func (l *Protocol) Skip() int { return 0 }

// Plausible implements engine.SpanProtocol: the codec's own early checks (a RandomIV
// header where the length needs one) are cheap enough.
func (l *Protocol) Plausible([]uint16, int) bool { return true }

// Decode implements engine.SpanProtocol.
func (l *Protocol) Decode(ports []uint16, src netip.Addr, now time.Time) (knock.Request, error) {
	tr, user, err := l.decode(ports)
	if err != nil {
		return knock.Request{}, knock.Refuse(legacyReason(err), err)
	}
	f := l.Codec.Format()
	v := tr.Values
	if l.Location != nil {
		now = now.In(l.Location)
	}
	if f.HasTime() && !f.Fresh(v, now, l.Window) {
		return knock.Request{}, knock.Refuse(knock.ReasonStale, fmt.Errorf("the knock's time fields are more than %s from the daemon's clock", l.Window))
	}
	req := knock.Request{Protocol: knock.Legacy, User: user, Client: src, Port: uint16(v.Port), Fields: FieldMap(f, v)}
	if f.Has(format.Client) {
		req.Client, req.ClientInKnock = v.Client, true
	}
	if l.TimeField != "" {
		minutes, _ := strconv.Atoi(req.Fields[strings.ToLower(l.TimeField)])
		req.Duration = time.Duration(minutes) * time.Minute
		req.Close = minutes == 0
	}
	if l.CloseField != "" && req.Fields[strings.ToLower(l.CloseField)] != "0" {
		req.Close = true
	}
	req.ReplayID = sha256.Sum256(append([]byte("legacy\x00"), tr.Sealed...))
	ttl := l.ReplayTTL
	if f.HasTime() {
		ttl = 2*l.Window + time.Minute
	}
	req.ReplayUntil = now.Add(ttl)
	if f.HasTime() {
		req.Stamp = now // within the window of the fields' time
	}
	return req, nil
}

// decode tries the candidate under the single key, or under each user's
// key, and returns the furthest failure when none decodes.
func (l *Protocol) decode(ports []uint16) (Trace, string, error) {
	if len(l.Users) == 0 {
		tr, err := l.Codec.DecodeTrace(ports)
		return tr, "", err
	}
	var best error
	for _, u := range l.Users {
		tr, err := u.Codec.DecodeTrace(ports)
		if err == nil {
			return tr, u.User, nil
		}
		if best == nil || legacyReason(err).Stage() > legacyReason(best).Stage() {
			best = err
		}
	}
	return Trace{}, "", best
}

func legacyReason(err error) knock.Reason {
	if r := Reason(err); r != "" {
		return r
	}
	return knock.ReasonDecrypt
}

// FieldMap names every field of the knock in lower case, as the command
// backend's templates, the logs and -decode show them.
func FieldMap(f format.Format, v format.Values) map[string]string {
	m := make(map[string]string, len(f.Fields()))
	for _, fl := range f.Fields() {
		m[strings.ToLower(fl.String())] = fmt.Sprint(v.Of(fl))
	}
	if f.Has(format.Port16) {
		m["port"] = m["port16"]
	}
	return m
}

// JudgesKeys implements engine.KeyJudge: with fixed-IV knocks, a
// candidate that fails padding or checksum was made with another key;
// with a random IV, the shorter windows of a knock still arriving fail
// them too, and tell nothing.
func (l *Protocol) JudgesKeys() bool { return !l.Codec.RandomIV() }
