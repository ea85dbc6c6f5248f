package lab

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// Requests through the whole handler: body parsing, key setup, the codec,
// the layout of every stage and the JSON or HTML answer.

func benchRequest(b *testing.B, method, path, ct, body string) {
	l := New(Options{Rand: &countingReader{}, Logger: discardLogger()})
	b.ReportAllocs()
	for b.Loop() {
		req := labRequest(method, path, strings.NewReader(body))
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
		l.ServeHTTP(w, jsonRequest("/api/decode", body))
	}
}

func BenchmarkPageSample(b *testing.B) {
	benchRequest(b, "POST", "/", "application/x-www-form-urlencoded", "action=sample")
}

const benchSealed = `"mode": "sealed", "span": "40000-40255", "key": "knock1-fnE9tQgTN9CvceJBUglAPcf9GEFOBe54-K_H0dcs2gIhS0cs"`

func BenchmarkAPISealedEncode(b *testing.B) {
	benchRequest(b, "POST", "/api/encode", "application/json", `{"ip": "203.0.113.7", "port": 22, "duration": 5, `+benchSealed+`}`)
}

// BenchmarkAPISealedDecode opens a knock sealed at the lab's clock, so
// that it is fresh at every iteration.
func BenchmarkAPISealedDecode(b *testing.B) {
	l := New(Options{Rand: &countingReader{}, Logger: discardLogger()})
	w := httptest.NewRecorder()
	l.ServeHTTP(w, jsonRequest("/api/encode", `{"ip": "203.0.113.7", "port": 22, `+benchSealed+`}`))
	seq := regexp.MustCompile(`"sequence":"([0-9 ]+)"`).FindStringSubmatch(w.Body.String())
	if seq == nil {
		b.Fatal(w.Body)
	}
	benchRequest(b, "POST", "/api/decode", "application/json", `{"sequence": "`+seq[1]+`", `+benchSealed+`}`)
}

// BenchmarkAPISealedPassphrase: a passphrase with knockclient's default
// KDF (Argon2id, 3 passes over 64 MiB, 4 threads), the most the lab
// spends on a request.
func BenchmarkAPISealedPassphrase(b *testing.B) {
	benchRequest(b, "POST", "/api/encode", "application/json",
		`{"mode": "sealed", "span": "40000-40255", "password": "correct horse battery staple", "ip": "203.0.113.7", "port": 22}`)
}
