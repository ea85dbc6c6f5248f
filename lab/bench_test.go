package lab

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// Requests through the whole handler: body parsing, key setup, the codec,
// the layout of every stage and the JSON or HTML answer.

func benchRequest(b *testing.B, method, path, ct, body string) {
	l := New(Options{Rand: &countingReader{}, Logger: discardLogger()})
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		l.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

const benchConfig = `"minport": 745, "cipher": "Blowfish", "password": "knock"`

func BenchmarkAPIEncode(b *testing.B) {
	benchRequest(b, "POST", "/api/encode", "application/json", `{"ip": "142.103.205.1", "port": 22, "time": 15, `+benchConfig+`}`)
}

func BenchmarkAPIDecode(b *testing.B) {
	benchRequest(b, "POST", "/api/decode", "application/json", `{"sequence": "`+SampleSequence+`", `+benchConfig+`}`)
}

// BenchmarkAPIDecodeWrongKey: a decode that fails tries every layout the
// lab derives.
func BenchmarkAPIDecodeWrongKey(b *testing.B) {
	l := New(Options{Logger: discardLogger()})
	body := `{"sequence": "` + SampleSequence + `", "minport": 745, "cipher": "Blowfish", "password": "wrong"}`
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		l.ServeHTTP(w, httptest.NewRequest("POST", "/api/decode", strings.NewReader(body)))
	}
}

func BenchmarkPageSample(b *testing.B) {
	benchRequest(b, "POST", "/", "application/x-www-form-urlencoded", "action=sample")
}
