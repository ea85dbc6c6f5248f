package knock

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Decoded is a decoded knock as every tool shows it in JSON, one shape
// for knockclient -decode, knockdaemon -decode and the Knock Lab's API
// (which adds its own keys beside these):
//
//	{"values":{"client":"192.0.2.7","port":22,...},"valid":true,
//	 "verdict":"open tcp/22 to 192.0.2.7 for 15m0s"}
//	{"values":{...},"valid":false,"reason":"checksum","why":"checksum mismatch"}
//
// values holds the knock's fields, named as the knock's format and
// message name them (knockclient in the knock's order, knockdaemon by
// name, as it gathers them from several stages); it is absent when
// nothing could be read. valid says the knock
// decoded and its checksum or tag holds. verdict is the daemon's: what
// it would do, or "refuse". reason (a Reason) and why (the error, in
// words) say what failed.
type Decoded struct {
	Values  Values `json:"values,omitempty"`
	Valid   bool   `json:"valid"`
	Verdict string `json:"verdict,omitempty"`
	Reason  Reason `json:"reason,omitempty"`
	Why     string `json:"why,omitempty"`
}

// VerdictRefuse is the daemon's verdict on a knock it would not act on.
const VerdictRefuse = "refuse"

// Value is one named field of a decoded knock.
type Value struct {
	Name  string
	Value any
}

// Values are a knock's fields in order; in JSON, one object, keys in
// that order.
type Values []Value

// Get returns the value of the field name, nil if absent.
func (vs Values) Get(name string) any {
	for _, v := range vs {
		if v.Name == name {
			return v.Value
		}
	}
	return nil
}

// MarshalJSON writes one object, keys in order.
func (vs Values) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(v.Name)
		if err != nil {
			return nil, err
		}
		val, err := json.Marshal(v.Value)
		if err != nil {
			return nil, fmt.Errorf("value %q: %w", v.Name, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object, keeping its keys in order.
func (vs *Values) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("values: expected an object")
	}
	*vs = nil
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		*vs = append(*vs, Value{Name: t.(string), Value: v})
	}
	_, err := dec.Token()
	return err
}
