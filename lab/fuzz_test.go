package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/format"
	"github.com/portknock/knock/internal/vector"
)

// The ways a body reaches the lab's parsers.
const (
	viaEncodeJSON = iota
	viaDecodeJSON
	viaEncodeForm // the API with a form-encoded body, as curl -d sends
	viaDecodeForm
	viaPage // a form post without JavaScript
	viaCount
)

// fuzzSeeds are the request files under testdata/requests and every test
// vector turned into an encode and a decode request.
func fuzzSeeds(f *testing.F) {
	names, err := filepath.Glob("testdata/requests/*")
	if err != nil || len(names) == 0 {
		f.Fatalf("no fuzz seeds in testdata/requests (%v)", err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		via := uint8(viaEncodeJSON)
		switch {
		case strings.HasSuffix(n, ".form"):
			via = viaPage
		case strings.Contains(filepath.Base(n), "decode"):
			via = viaDecodeJSON
		}
		f.Add(via, b)
	}
	vs, err := vector.Glob("../legacy/testdata/vectors/*.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		req := vectorRequest(f, v)
		req["sequence"] = v.Get("ports")
		b, _ := json.Marshal(req)
		f.Add(uint8(viaEncodeJSON), b)
		f.Add(uint8(viaDecodeJSON), b)
	}
	sealedSeeds(f)
}

// sealedSeeds turn every sealed test vector into requests: the message
// to make, the knock to open, the passphrase to derive, the key to read.
func sealedSeeds(f *testing.F) {
	vs, err := vector.Glob(sealedVectorGlob)
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		var req map[string]string
		switch {
		case v.Has("passphrase") && v.Get("kdf-memory") != "8192":
			continue // a costly derivation makes every mutation of it slow
		case v.Has("passphrase"):
			req = map[string]string{"mode": "sealed", "ip": "203.0.113.7", "port": "22", "span": vectorSpan, "password": v.Get("passphrase"),
				"kdftime": v.Get("kdf-time"), "kdfmemory": v.Get("kdf-memory"), "kdfthreads": v.Get("kdf-threads"), "kdfsalt": v.Get("kdf-salt")}
		case v.Has("key-text"):
			req = map[string]string{"mode": "sealed", "key": v.Get("key-text"), "ip": "203.0.113.7", "port": "22", "span": vectorSpan}
		case v.Get("expect") == "ok":
			b, _ := json.Marshal(sealedEncodeRequest(f, v))
			f.Add(uint8(viaEncodeJSON), b)
			req = sealedDecodeRequest(f, v)
		default:
			req = sealedDecodeRequest(f, v)
		}
		b, _ := json.Marshal(req)
		f.Add(uint8(viaDecodeJSON), b)
		f.Add(uint8(viaEncodeJSON), b)
	}
	sealedV2Seeds(f)
}

// sealedV2Seeds turn every version 2 vector into requests of the one
// user the lab opens it as: the message to make, the knock to open.
func sealedV2Seeds(f *testing.F) {
	vs, err := vector.Glob(sealedV2VectorGlob)
	if err != nil || len(vs) == 0 {
		f.Fatalf("no version 2 vectors in %s (%v)", sealedV2VectorGlob, err)
	}
	for _, v := range vs {
		if v.Get("expect") == "ok" && v.Has("sender-key") {
			enc := sealedEncodeRequest(f, v)
			enc["user"], enc["key"], enc["server"] = v.Get("sender-user"), v.Get("sender-key"), v.Get("sender-server")
			b, _ := json.Marshal(enc)
			f.Add(uint8(viaEncodeJSON), b)
		}
		b, _ := json.Marshal(v2DecodeRequest(f, v))
		f.Add(uint8(viaDecodeJSON), b)
		f.Add(uint8(viaEncodeJSON), b)
	}
}

// fuzzClock is the sealed vectors' "now", so that the ones sealed then
// open, and what they fill back is checked to seal to the same knock.
var fuzzClock = time.Unix(1767225600, 0)

// FuzzRequest: whatever the body, in either mode, the lab answers 200,
// 400 or 413, never fails or panics, answers the API in JSON with a
// message for every error, and a knock it decodes encodes back to the
// same ports (or datagram).
func FuzzRequest(f *testing.F) {
	fuzzSeeds(f)
	l := New(Options{Rand: &countingReader{}, Now: func() time.Time { return fuzzClock }, Logger: discardLogger()})
	f.Fuzz(func(t *testing.T, via uint8, body []byte) {
		via %= viaCount
		w := httptest.NewRecorder()
		l.ServeHTTP(w, fuzzRequest(via, body))
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d\n%s", w.Code, w.Body)
		}
		if via == viaPage {
			return
		}
		var a apiAnswer
		if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
			t.Fatalf("answer is not JSON: %v\n%s", err, w.Body)
		}
		if w.Code != http.StatusOK {
			if len(a.Errors) == 0 {
				t.Fatalf("status %d without errors\n%s", w.Code, w.Body)
			}
			return
		}
		if via == viaDecodeJSON || via == viaDecodeForm {
			checkReencodes(t, l, body, via, a.Result)
		}
	})
}

func fuzzRequest(via uint8, body []byte) *http.Request {
	path, ct := "/api/encode", "application/json"
	switch via {
	case viaDecodeJSON:
		path = "/api/decode"
	case viaEncodeForm:
		ct = "application/x-www-form-urlencoded"
	case viaDecodeForm:
		path, ct = "/api/decode", "application/x-www-form-urlencoded"
	case viaPage:
		path, ct = "/", "application/x-www-form-urlencoded"
	}
	req := labRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	return req
}

// checkReencodes: the fields a decode fills back, with the same
// configuration and IV, encode to the knock that was decoded. Legacy
// knocks with THIS* fields are left out, since the lab fills those from
// its clock; a sealed knock gives back its time and nonce.
func checkReencodes(t *testing.T, l *Lab, body []byte, via uint8, dec Result) {
	if dec.Mode == "legacy" && format.MustParse(dec.Format).HasTime() {
		return
	}
	var f Form
	if via == viaDecodeForm {
		f = formFromValues(mustParseQuery(t, body))
	} else {
		f, _ = formFromJSON(body)
	}
	f.set(dec.Fields)
	if dec.IV != "" {
		f.IVValue = "hex:" + dec.IV
	}
	if dec.FormatDerived {
		f.Format = dec.Format
	}
	enc, errs := l.run(context.Background(), "encode", f)
	if errs != nil {
		t.Fatalf("the fields decoded from %s do not encode: %v\nfields %v", dec.Sequence, errs, dec.Fields)
	}
	if enc.Sequence != dec.Sequence {
		t.Fatalf("decoded %s, which encodes back to %s", dec.Sequence, enc.Sequence)
	}
}
