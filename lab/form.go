package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
)

// Form is what a person typed: every field of the page as text, as it came
// from a form post or a JSON request. Reading a Form never fails; what the
// text means is the mode's business, and its errors name these fields.
// The fields are in the page's order; their JSON names are the form's
// input names, the JSON keys and the keys of Errors.
type Form struct {
	Mode string `json:"mode"`

	// Both modes.
	IP       string `json:"ip"`
	Port     string `json:"port"`
	Service  string `json:"service"`
	Span     string `json:"span"`
	Password string `json:"password"` // legacy: the cipher's; sealed: the KDF's passphrase
	Sequence string `json:"sequence"` // ports, or for sealed an SPA datagram in hex

	// Legacy.
	Mask    string `json:"mask"`
	Time    string `json:"time"` // the time flag, FLAG0
	MinPort string `json:"minport"`
	Cipher  string `json:"cipher"`
	IV      string `json:"iv"`
	IVValue string `json:"ivvalue"`
	Format  string `json:"format"`
	Flags   string `json:"flags"`
	Rand    string `json:"rand"`

	// Sealed.
	Implicit   string `json:"implicit"`
	Proto      string `json:"proto"`
	Duration   string `json:"duration"`
	Unit       string `json:"unit"`
	Close      string `json:"close"`
	Key        string `json:"key"`
	KDFTime    string `json:"kdftime"`
	KDFMemory  string `json:"kdfmemory"`
	KDFThreads string `json:"kdfthreads"`
	KDFSalt    string `json:"kdfsalt"`
	User       string `json:"user"`   // version 2: the user whose key seals
	Server     string `json:"server"` // version 2: the server's name the knock is sealed for
	Timestamp  string `json:"timestamp"`
	Nonce      string `json:"nonce"`
	Window     string `json:"window"`
	Source     string `json:"source"`
	SPA        string `json:"spa"`
}

// fieldNames are the names of the fields, in the page's order.
var fieldNames, fieldIndex = indexFields()

func indexFields() ([]string, map[string]int) {
	t := reflect.TypeFor[Form]()
	var names []string
	index := map[string]int{}
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("json")
		names = append(names, name)
		index[name] = i
	}
	return names, index
}

// The fields that hold the knock's contents, as opposed to its
// configuration: what decoding fills back in each mode (the SPA box too,
// for a sealed knock that turned out to be a datagram), and what "clear
// values" empties. Key, span, window and source address stay.
var (
	legacyValues = []string{"ip", "mask", "port", "service", "time", "flags", "rand", "iv", "ivvalue", "sequence"}
	sealedValues = []string{"ip", "implicit", "port", "service", "proto", "duration", "unit", "close",
		"timestamp", "nonce", "spa", "sequence"}
	valueFields = []string{"ip", "mask", "port", "service", "time", "flags", "rand", "iv", "ivvalue",
		"implicit", "proto", "duration", "unit", "close", "timestamp", "nonce", "sequence"}
)

// switches are the checkboxes: JSON may give them as booleans.
var switches = map[string]bool{"iv": true, "implicit": true, "close": true, "spa": true}

// field returns the field called name, or nil.
func (f *Form) field(name string) *string {
	i, ok := fieldIndex[name]
	if !ok {
		return nil
	}
	return reflect.ValueOf(f).Elem().Field(i).Addr().Interface().(*string)
}

// set copies fields into f, for decoding's "fill the fields back".
func (f *Form) set(fields map[string]string) {
	for k, v := range fields {
		if p := f.field(k); p != nil {
			*p = v
		}
	}
}

// clearValues empties the knock's contents and keeps its configuration
// (span, cipher, password, format), which decoding needs.
func (f *Form) clearValues() {
	for _, k := range valueFields {
		*f.field(k) = ""
	}
}

// formFromValues reads a form post. Names the form does not have (the
// submit button's "action") are ignored.
func formFromValues(v url.Values) Form {
	var f Form
	for _, k := range fieldNames {
		*f.field(k) = v.Get(k)
	}
	return f
}

// formFromJSON reads a JSON object whose keys are field names. Values may
// be strings, numbers, booleans (for the checkboxes) or, for sequence, an
// array of ports, so that curl users can write what comes naturally.
func formFromJSON(body []byte) (Form, Errors) {
	var f Form
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return f, Errors{"body": "expected a JSON object such as {\"ip\": \"192.0.2.7\", \"port\": 22}"}
	}
	errs := Errors{}
	for k, v := range raw {
		p := f.field(k)
		if p == nil {
			errs.add(k, "unknown field %q: expected %s", k, strings.Join(fieldNames, ", "))
			continue
		}
		s, err := jsonText(v, k == "sequence", switches[k])
		if err != nil {
			errs.add(k, "%v", err)
			continue
		}
		*p = s
	}
	return f, errs.orNil()
}

// jsonText turns one JSON value into the text a form field would hold.
func jsonText(v json.RawMessage, list, boolean bool) (string, error) {
	v = bytes.TrimSpace(v)
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return "", fmt.Errorf("not a JSON value")
	}
	switch x := x.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		if !boolean {
			return "", fmt.Errorf("expected text or a number, not %v", x)
		}
		if x {
			return "on", nil
		}
		return "", nil
	case []any:
		if list {
			return joinList(x)
		}
	}
	return "", fmt.Errorf("expected text or a number")
}

func joinList(xs []any) (string, error) {
	parts := make([]string, len(xs))
	for i, x := range xs {
		switch x := x.(type) {
		case json.Number:
			parts[i] = x.String()
		case string:
			parts[i] = x
		default:
			return "", fmt.Errorf("item %d of the list is not a port number", i+1)
		}
	}
	return strings.Join(parts, " "), nil
}

// Errors maps a field name to what is wrong with it. The key "form" is for
// what belongs to no single field, "body" for a request that could not be
// read at all.
type Errors map[string]string

// add records the first error of a field; later ones would only repeat it.
func (e Errors) add(field, format string, args ...any) {
	if _, ok := e[field]; !ok {
		e[field] = fmt.Sprintf(format, args...)
	}
}

func (e Errors) orNil() Errors {
	if len(e) == 0 {
		return nil
	}
	return e
}
