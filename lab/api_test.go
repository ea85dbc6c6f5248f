package lab

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/portknock/knock"

	"github.com/portknock/knock/format"
	"github.com/portknock/knock/internal/vector"
)

// vectorRequest turns a test vector into the API's fields. Every flag goes
// through the flags field, since a vector's FLAG1 need not be a mask.
func vectorRequest(t testing.TB, v vector.Vector) map[string]string {
	req := map[string]string{
		"format": v.Get("format"), "span": v.Get("span"), "cipher": v.Get("cipher"),
		"password": v.Get("key"), "ip": v.Get("client"), "port": v.Get("port"),
		"rand": v.Get("rand"), "ivvalue": v.Get("iv"),
	}
	if req["cipher"] == "" {
		req["cipher"] = "none"
	}
	var flags []string
	for k, val := range v.Fields {
		if n, ok := strings.CutPrefix(k, "flag"); ok {
			flags = append(flags, "FLAG"+n+"="+val)
		}
	}
	sort.Strings(flags)
	req["flags"] = strings.Join(flags, " ")
	return req
}

// TestAPIVectors puts every test vector that has a knock format through
// the API: the good ones must encode to their ports and decode back to
// their values, the bad ones must fail next to the field at fault.
func TestAPIVectors(t *testing.T) {
	vs, err := vector.Glob("../legacy/testdata/vectors/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, v := range vs {
		if !v.Has("format") {
			continue
		}
		ran++
		t.Run(strings.TrimSuffix(v.Name, ".txt"), func(t *testing.T) {
			l := newTestLab(t)
			switch {
			case v.Has("expect-encode"):
				checkVectorEncodeError(t, l, v)
			case v.Has("expect"):
				checkVectorDecodeError(t, l, v)
			default:
				checkVectorRoundTrip(t, l, v)
			}
		})
	}
	if ran < 10 {
		t.Fatalf("only %d vectors with a format: did testdata/vectors move?", ran)
	}
}

func checkVectorRoundTrip(t *testing.T, l *Lab, v vector.Vector) {
	req := vectorRequest(t, v)
	enc := postJSON(t, l, "/api/encode", req)
	if enc.status != http.StatusOK {
		t.Fatalf("encode: %d %v", enc.status, enc.Errors)
	}
	wantPorts := ints16(v.Ports(t, "ports"))
	if !slices.Equal(enc.Ports, wantPorts) {
		t.Errorf("encode: ports\n got %v\nwant %v", enc.Ports, wantPorts)
	}
	if want := ints(v.Bytes(t, "plain")); !slices.Equal(enc.Plain, want) {
		t.Errorf("encode: plain bytes\n got %v\nwant %v", enc.Plain, want)
	}
	if v.Has("sealed") && !slices.Equal(enc.Sealed, ints(v.Bytes(t, "sealed"))) {
		t.Errorf("encode: sealed bytes %v, want %v", enc.Sealed, v.Get("sealed"))
	}
	dec := postJSON(t, l, "/api/decode", map[string]string{
		"format": req["format"], "span": req["span"], "cipher": req["cipher"],
		"password": req["password"], "sequence": v.Get("ports"),
	})
	if dec.status != http.StatusOK {
		t.Fatalf("decode: %d %v", dec.status, dec.Errors)
	}
	checkVectorValues(t, v, dec.Values)
	if want := hex.EncodeToString(v.IV(t)); dec.IV != want {
		t.Errorf("decode: IV %q, want %q", dec.IV, want)
	}
	if dec.Sequence != strings.Join(strings.Fields(v.Get("ports")), " ") {
		t.Errorf("decode: sequence %q", dec.Sequence)
	}
}

// checkVectorValues compares decoded values with the vector's, for every
// field of the vector's format.
func checkVectorValues(t *testing.T, v vector.Vector, got map[string]any) {
	t.Helper()
	want := v.Values(t)
	for _, fl := range format.MustParse(v.Get("format")).Fields() {
		var w any
		switch fl.Kind {
		case format.Client:
			w = want.Client.String()
		case format.Port, format.Port16:
			w = float64(want.Port)
		case format.Flag:
			w = float64(want.Flag(fl.N))
		default:
			continue
		}
		if got[fl.String()] != w {
			t.Errorf("decode: %s = %v, want %v", fl, got[fl.String()], w)
		}
	}
}

func checkVectorEncodeError(t *testing.T, l *Lab, v vector.Vector) {
	enc := postJSON(t, l, "/api/encode", vectorRequest(t, v))
	if enc.status != http.StatusBadRequest || !strings.Contains(enc.Errors["port"], v.Get("expect-encode")) {
		t.Fatalf("encode: %d %v; want 400 and a port error containing %q", enc.status, enc.Errors, v.Get("expect-encode"))
	}
}

// decodeFailures says where each decode failure is shown, and how.
var decodeFailures = map[string]struct{ field, text string }{
	"length":   {"sequence", "wrong knock length"},
	"span":     {"sequence", "port outside the span"},
	"decrypt":  {"password", "does not decrypt with this key"},
	"checksum": {"sequence", "checksum mismatch"},
}

func checkVectorDecodeError(t *testing.T, l *Lab, v vector.Vector) {
	req := vectorRequest(t, v)
	req["sequence"] = v.Get("ports")
	want, ok := decodeFailures[v.Get("expect")]
	if v.Name == "bad-iv-header-damaged.txt" {
		// As long as a RandomIV knock, without the header: no key is at fault.
		want.field, want.text = "sequence", "does not start with the RandomIV header"
	}
	if !ok {
		t.Fatalf("vector expects %q, which this test does not know", v.Get("expect"))
	}
	dec := postJSON(t, l, "/api/decode", req)
	if v.Get("ports") == "" {
		// An empty sequence is caught before decoding.
		want.text = "paste a knock sequence"
	}
	if dec.status != http.StatusBadRequest || !strings.Contains(dec.Errors[want.field], want.text) {
		t.Fatalf("decode: %d %v; want 400 and a %s error containing %q", dec.status, dec.Errors, want.field, want.text)
	}
	t.Logf("shown next to %s: %s", want.field, dec.Errors[want.field])
}

// TestAPIErrors: everything that cannot be parsed is named next to its
// field, in words that say what was wrong.
func TestAPIErrors(t *testing.T) {
	good := map[string]any{"ip": "192.0.2.7", "port": 22, "time": 15, "minport": 745, "cipher": "Blowfish", "password": "pw"}
	with := func(kv ...any) map[string]any { return withFields(good, kv...) }
	tests := []struct {
		name, path  string
		body        any
		field, text string
	}{
		{"negative port", "/api/encode", with("port", -1), "port", "port -1 is negative"},
		{"port too big", "/api/encode", with("port", 70000), "port", "above 65535"},
		{"port not a number", "/api/encode", with("port", "ssh"), "port", `"ssh" is not a number`},
		{"bad service", "/api/encode", with("port", "", "service", "x"), "service", `"x" is not a number`},
		{"malformed IP", "/api/encode", with("ip", "1.2.3"), "ip", `"1.2.3" is not an IP address`},
		{"IPv6", "/api/encode", with("ip", "2001:db8::1"), "ip", "IPv6"},
		{"missing IP", "/api/encode", with("ip", ""), "ip", "required"},
		{"time flag too big", "/api/encode", with("time", 300), "time", "300 is more than 255"},
		{"negative time flag", "/api/encode", with("time", -1), "time", "-1 is negative"},
		{"bad mask", "/api/encode", with("mask", 33), "mask", `"33" is not a mask`},
		{"holey netmask", "/api/encode", with("mask", "255.0.255.0"), "mask", "one bits must come first"},
		{"span not 2^N", "/api/encode", with("span", "745-1001"), "span", "has 257 ports: it must have 2^N ports"},
		{"span reversed", "/api/encode", with("span", "1000-745"), "span", "reversed"},
		{"minport too high", "/api/encode", with("minport", 65300), "minport", "at most 65280"},
		{"no span", "/api/encode", with("minport", ""), "minport", "required"},
		{"unknown field in format", "/api/encode", with("format", "CLIENT,PORTS"), "format", `unknown knock field "PORTS"`},
		{"PORT too small", "/api/encode", with("format", "CLIENT,PORT,CHECKSUM", "port", 443), "port", "port 443 does not fit the one-byte PORT field"},
		{"flag missing", "/api/encode", with("format", "CLIENT,PORT,FLAG3,CHECKSUM"), "flags", "FLAG3"},
		{"flag twice", "/api/encode", with("flags", "FLAG0=1"), "flags", "FLAG0 is the time flag: give it in one place"},
		{"bad flag", "/api/encode", with("flags", "FLAGX=1"), "flags", `"FLAGX" is not a flag`},
		{"unknown cipher", "/api/encode", with("cipher", "Rot13"), "cipher", `unknown cipher "Rot13"`},
		{"no password", "/api/encode", with("password", ""), "password", "required"},
		{"IV without cipher", "/api/encode", with("cipher", "none", "iv", true), "iv", "an IV needs a cipher"},
		{"IV too long", "/api/encode", with("ivvalue", "123456789"), "ivvalue", "IV of 9 bytes: Blowfish takes 1 to 8"},
		{"IV not hex", "/api/encode", with("ivvalue", "hex:xyz"), "ivvalue", "not hexadecimal"},
		{"unknown mode", "/api/encode", with("mode", "quantum"), "mode", `unknown mode "quantum": the lab knows legacy, sealed`},
		{"unknown key", "/api/encode", with("prot", 22), "prot", `unknown field "prot"`},
		{"object in a field", "/api/encode", with("ip", map[string]int{"a": 1}), "ip", "expected text or a number"},
		{"not JSON", "/api/encode", "ip=1", "body", "expected a JSON object"},
		{"empty sequence", "/api/decode", with("sequence", ""), "sequence", "paste a knock sequence"},
		{"bad sequence", "/api/decode", with("sequence", "966, 914, x"), "sequence", `"x" (number 3) is not a port number`},
		{"negative in sequence", "/api/decode", with("sequence", "966 -914"), "sequence", "-914 (number 2) is negative"},
		{"too many ports", "/api/decode", with("sequence", strings.Repeat("1 ", MaxPorts+1)), "sequence", "at most 2048"},
		{"wrong length", "/api/decode", with("sequence", "966 914 795"), "sequence", "wrong knock length: 3 ports"},
		{"outside span", "/api/decode", with("sequence", "1001 914 795 964 831 862 807 932"), "sequence", "port 1001 (knock 1 of 8) is not in"},
		{"wrong password", "/api/decode", with("password", "knocks", "sequence", SampleSequence), "password", "does not decrypt with this key: bad padding"},
	}
	l := newTestLab(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := postJSON(t, l, tc.path, tc.body)
			if a.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; %+v", a.status, a.Errors)
			}
			if !strings.Contains(a.Errors[tc.field], tc.text) {
				t.Fatalf("errors %q; want one for %s containing %q", a.Errors, tc.field, tc.text)
			}
			// Only a knock whose bytes were read has stages to show.
			if partial := a.Partial != nil; partial != (tc.field == "password" && tc.path == "/api/decode") {
				t.Errorf("partial result: %v", partial)
			}
		})
	}
}

// TestAPIChecksumMismatch: a knock whose checksum fails shows what it
// carried, in the error and in the partial result.
func TestAPIChecksumMismatch(t *testing.T) {
	a := postJSON(t, newTestLab(t), "/api/decode", map[string]any{
		"format": "CLIENT,PORT,FLAG0,CHECKSUM", "span": "0-255", "cipher": "none", "sequence": "10 1 1 1 22 16 50"})
	want := "checksum mismatch: the fields sum to 51 mod 255, the knock says 50; received CLIENT 10.1.1.1, PORT 22, FLAG0 16, CHECKSUM 50"
	if a.status != http.StatusBadRequest || a.Errors["sequence"] != want {
		t.Fatalf("%d %q\nwant %q", a.status, a.Errors, want)
	}
	if a.Partial == nil || a.Partial.OK || a.Partial.Values["FLAG0"] != float64(16) || a.Partial.Fields != nil {
		t.Fatalf("partial result %+v: want the values received, and no fields to fill back", a.Partial)
	}
}

// TestAPIFillsBack: decoding gives back every value field, empty when the
// knock does not carry it.
func TestAPIFillsBack(t *testing.T) {
	l := newTestLab(t)
	enc := postJSON(t, l, "/api/encode", map[string]any{"ip": "10.9.8.7", "port": 3389, "time": 60, "mask": "255.255.255.0",
		"flags": "FLAG7=1", "span": "40000-40511,41000-41511", "cipher": "DES", "iv": true, "password": "pw"})
	if enc.status != http.StatusOK {
		t.Fatal(enc.Errors)
	}
	if enc.Format != "CLIENT,PORT16,FLAG0,FLAG1,FLAG7,CHECKSUM" || !enc.FormatDerived {
		t.Errorf("derived format %q", enc.Format)
	}
	if !slices.ContainsFunc(enc.Notes, func(n string) bool { return strings.Contains(n, "PORT16") }) {
		t.Errorf("notes %q do not say PORT16 is used", enc.Notes)
	}
	dec := postJSON(t, l, "/api/decode", map[string]any{"format": enc.Format, "span": enc.Span, "cipher": "DES",
		"password": "pw", "sequence": enc.Ports})
	if dec.status != http.StatusOK {
		t.Fatal(dec.Errors)
	}
	want := map[string]string{"ip": "10.9.8.7", "service": "3389", "port": "", "time": "60", "mask": "24",
		"flags": "FLAG7=1", "rand": "", "iv": "on", "ivvalue": "", "sequence": enc.Sequence}
	if fmt.Sprint(dec.Fields) != fmt.Sprint(want) {
		t.Errorf("fields\n got %v\nwant %v", dec.Fields, want)
	}
}

// TestAPIDerivedDecode: without a knock format, decoding tries the layouts
// the lab writes; the fields still in the form choose between layouts of
// the same length, and the other reading is noted.
func TestAPIDerivedDecode(t *testing.T) {
	l := newTestLab(t)
	base := map[string]any{"ip": "10.1.1.1", "port": 8443, "time": 15, "minport": 2000, "cipher": "Blowfish", "password": "pw"}
	enc := postJSON(t, l, "/api/encode", base)
	if enc.status != http.StatusOK || enc.Values["PORT16"] != float64(8443) {
		t.Fatalf("%d %v %v", enc.status, enc.Errors, enc.Values)
	}
	dec := postJSON(t, l, "/api/decode", map[string]any{"minport": 2000, "cipher": "Blowfish", "password": "pw", "sequence": enc.Sequence})
	if dec.status != http.StatusOK || dec.Fields["service"] != "8443" || dec.Fields["time"] != "15" {
		t.Fatalf("%d %v %v", dec.status, dec.Errors, dec.Fields)
	}
	if len(dec.Notes) != 1 || !strings.Contains(dec.Notes[0], "also decodes as CLIENT,PORT,FLAG0,FLAG1,CHECKSUM") {
		t.Errorf("notes %q", dec.Notes)
	}
	// With a mask in the form, the masked layout comes first.
	dec = postJSON(t, l, "/api/decode", map[string]any{"minport": 2000, "cipher": "Blowfish", "password": "pw", "mask": "32", "sequence": enc.Sequence})
	if dec.status != http.StatusOK || dec.Format != "CLIENT,PORT,FLAG0,FLAG1,CHECKSUM" || dec.Fields["mask"] != "15" {
		t.Fatalf("with a mask: %d %v %s %v", dec.status, dec.Errors, dec.Format, dec.Fields)
	}
}

// TestAPIStages: the layout of an IV knock on a 16-bit span: labelled
// parts, bits cut at byte boundaries, the shorter last group.
func TestAPIStages(t *testing.T) {
	a := postJSON(t, newTestLab(t), "/api/encode", map[string]any{"ip": "192.0.2.77", "port": 22, "time": 15, "flags": "FLAG1=1",
		"format": "CLIENT,PORT,FLAG0,FLAG1,CHECKSUM", "span": "7000-7015", "cipher": "Blowfish",
		"password": "correct horse battery staple", "ivvalue": "hex:a1b2c3d4e5f60718"})
	if a.status != http.StatusOK {
		t.Fatal(a.Errors)
	}
	var names []string
	for _, p := range a.PlainParts {
		names = append(names, p.Name)
	}
	for _, p := range a.SealedParts {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, " "); got != "CLIENT PORT FLAG0 FLAG1 CHECKSUM padding RandomIV IV ciphertext" {
		t.Errorf("parts %q", got)
	}
	if a.Bits != 4 || len(a.Groups) != 2*len(a.Sealed) {
		t.Fatalf("%d bits, %d groups of %d bytes", a.Bits, len(a.Groups), len(a.Sealed))
	}
	if g := a.Groups[0]; g.Bits[0].Bits != "0101" || g.Bits[0].Kind != "header" || g.Symbol != 5 || g.Port != 7005 {
		t.Errorf("first group %+v: want the high nibble of 'R' (0x52)", g)
	}
}

// TestAPIRandomIV: a ticked IV box draws the IV from the lab's randomness
// (here 0, 1, 2, ...) and the knock decodes back.
func TestAPIRandomIV(t *testing.T) {
	l := newTestLab(t)
	req := map[string]any{"ip": "192.0.2.7", "port": 22, "time": 1, "minport": 100, "cipher": "Rijndael", "iv": "on", "password": "pw"}
	a := postJSON(t, l, "/api/encode", req)
	if a.status != http.StatusOK || a.IV != "000102030405060708090a0b0c0d0e0f" {
		t.Fatalf("%d %v IV %q", a.status, a.Errors, a.IV)
	}
	if len(a.Ports) != 8+16+16 {
		t.Errorf("%d ports, want 40: header, IV, one block", len(a.Ports))
	}
	b := postJSON(t, l, "/api/encode", req)
	if b.Sequence == a.Sequence {
		t.Error("two knocks with random IVs are the same")
	}
	dec := postJSON(t, l, "/api/decode", map[string]any{"minport": 100, "cipher": "AES", "password": "pw", "sequence": b.Ports})
	if dec.status != http.StatusOK || dec.IV != b.IV || dec.Fields["ip"] != "192.0.2.7" {
		t.Fatalf("%d %v %v", dec.status, dec.Errors, dec.Fields)
	}
}

// TestAPITimeFields: THIS* fields come from the lab's clock; RAND is drawn
// unless given.
func TestAPITimeFields(t *testing.T) {
	a := postJSON(t, newTestLab(t), "/api/encode", map[string]any{"ip": "192.0.2.7", "port": 22,
		"format": "CLIENT,PORT,RAND,THISDAY,THISHOUR,THISMINUTE,CHECKSUM", "minport": 100, "cipher": "none"})
	if a.status != http.StatusOK {
		t.Fatal(a.Errors)
	}
	// 7 March 2026, 14:05: day 66, 24*7+14 = 182, 60*14+5 = 845 mod 256 = 77.
	want := map[string]float64{"RAND": 0, "THISDAY": 66, "THISHOUR": 182, "THISMINUTE": 77}
	for k, w := range want {
		if a.Values[k] != w {
			t.Errorf("%s = %v, want %v", k, a.Values[k], w)
		}
	}
}

func TestAPIFormEncoded(t *testing.T) {
	req := labRequest("POST", "/api/decode", strings.NewReader(
		"minport=745&cipher=Blowfish&password=knock&sequence=966+914+795+964+831+862+807+932"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a := answer(t, newTestLab(t), req)
	if a.status != http.StatusOK || a.Fields["ip"] != "142.103.205.1" {
		t.Fatalf("%d %v %v", a.status, a.Errors, a.Fields)
	}
}

func TestAPIOversize(t *testing.T) {
	body := `{"sequence": "` + strings.Repeat("1 ", MaxBody) + `"}`
	a := postJSON(t, newTestLab(t), "/api/decode", body)
	if a.status != http.StatusRequestEntityTooLarge || !strings.Contains(a.Errors["body"], "over 16384 bytes") {
		t.Fatalf("%d %v", a.status, a.Errors)
	}
}

func TestAPIMethods(t *testing.T) {
	l := newTestLab(t)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/encode", http.StatusMethodNotAllowed},
		{"PUT", "/", http.StatusMethodNotAllowed},
		{"GET", "/api", http.StatusOK},
		{"GET", "/nowhere", http.StatusNotFound},
		{"GET", "/static/lab.js", http.StatusOK},
	} {
		w := httptest.NewRecorder()
		l.ServeHTTP(w, labRequest(tc.method, tc.path, nil))
		if w.Code != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, w.Code, tc.want)
		}
	}
}

// TestAPISharedShape: the API's result has "values" and "valid", spelt
// and meant as in knock.Decoded (knockclient and knockdaemon -decode).
func TestAPISharedShape(t *testing.T) {
	h := newTestLab(t)
	for _, tc := range []struct {
		seq    string
		status int
		valid  bool
	}{
		{"10 1 1 1 22 16 50", http.StatusBadRequest, false},
		{"10 1 1 1 22 16 51", http.StatusOK, true},
	} {
		body, _ := json.Marshal(map[string]any{"format": "CLIENT,PORT,FLAG0,CHECKSUM", "span": "0-255", "cipher": "none", "sequence": tc.seq})
		req := httptest.NewRequest("POST", "http://"+labAddr+"/api/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil || w.Code != tc.status {
			t.Fatalf("%s: %d %v\n%s", tc.seq, w.Code, err, w.Body)
		}
		if res, ok := raw["result"]; ok {
			raw = nil
			json.Unmarshal(res, &raw)
		}
		var d knock.Decoded
		if err := json.Unmarshal(w.Body.Bytes(), &d); tc.valid && err != nil {
			t.Fatal(err)
		}
		if string(raw["valid"]) != strconv.FormatBool(tc.valid) {
			t.Errorf("%s: valid %s, want %v\n%s", tc.seq, raw["valid"], tc.valid, w.Body)
		}
		var values map[string]any
		if err := json.Unmarshal(raw["values"], &values); err != nil || values["PORT"] != float64(22) {
			t.Errorf("%s: values %s", tc.seq, raw["values"])
		}
		if tc.valid && (!d.Valid || d.Values.Get("CLIENT") != "10.1.1.1") {
			t.Errorf("%s: as knock.Decoded: %+v", tc.seq, d)
		}
	}
}
