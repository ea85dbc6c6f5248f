package lab

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// countingReader is a deterministic randomness source: 0, 1, 2, ...
type countingReader struct{ n byte }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

// testClock is 2026-03-07 14:05:09 UTC.
var testClock = time.Date(2026, 3, 7, 14, 5, 9, 0, time.UTC)

// newTestLab is a lab with deterministic randomness and clock, logging
// into the test's output.
func newTestLab(t testing.TB) *Lab {
	return New(Options{
		Rand:     &countingReader{},
		Now:      func() time.Time { return testClock },
		Location: time.UTC,
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// apiAnswer is an API response: a Result, or errors and maybe a Result.
type apiAnswer struct {
	status int
	Result
	Errors  Errors  `json:"errors"`
	Partial *Result `json:"result"`
	Key     string  `json:"key"` // from /api/keygen
}

// postJSON posts a JSON body (a string, or any value to marshal) to path.
func postJSON(t testing.TB, h http.Handler, path string, body any) apiAnswer {
	t.Helper()
	var b []byte
	switch body := body.(type) {
	case string:
		b = []byte(body)
	default:
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	return answer(t, h, jsonRequest(path, string(b)))
}

func answer(t testing.TB, h http.Handler, req *http.Request) apiAnswer {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q, want JSON; body:\n%s", req.URL.Path, ct, w.Body)
	}
	var a apiAnswer
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatalf("%s: answer is not JSON: %v\n%s", req.URL.Path, err, w.Body)
	}
	a.status = w.Code
	return a
}

// postForm posts a form as a browser without JavaScript does and returns
// the status and the page.
func postForm(t testing.TB, h http.Handler, v url.Values) (int, string) {
	t.Helper()
	req := labRequest("POST", "/", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	body, _ := io.ReadAll(w.Body)
	return w.Code, string(body)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustParseQuery(t testing.TB, body []byte) url.Values {
	t.Helper()
	v, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// withFields returns a copy of fields with the pairs kv set: a good request
// made bad in one place.
func withFields(fields map[string]any, kv ...any) map[string]any {
	m := map[string]any{}
	for k, v := range fields {
		m[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// labAddr is where tests say the lab is: a loopback address, which the
// lab answers to (guard).
const labAddr = "127.0.0.1:8080"

// labRequest is a request to the lab at labAddr.
func labRequest(method, path string, body io.Reader) *http.Request {
	return httptest.NewRequest(method, "http://"+labAddr+path, body)
}

// jsonRequest posts JSON to the API as a script does.
func jsonRequest(path, body string) *http.Request {
	req := labRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}
