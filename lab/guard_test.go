package lab

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGuardHost: a request naming another host, as a page does after
// pointing its own name at 127.0.0.1 (DNS rebinding), is refused before
// anything reads it; loopback names and the address the lab listens on
// are answered, with the lab's port only.
func TestGuardHost(t *testing.T) {
	srv := httptest.NewServer(newTestLab(t))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	for _, tc := range []struct {
		host string
		want int
	}{
		{addr, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LOCALHOST.:" + port, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
		{"evil.example:" + port, http.StatusForbidden},
		{"evil.example", http.StatusForbidden},
		{"localhost", http.StatusForbidden}, // port 80, not the lab's
		{"localhost:1", http.StatusForbidden},
		{"127.0.0.2:" + port, http.StatusForbidden},
		{"127.0.0.1.evil.example:" + port, http.StatusForbidden},
	} {
		for _, path := range []string{"/", "/api/decode"} {
			method, body := "GET", ""
			if path != "/" {
				method, body = "POST", `{"sequence": "`+SampleSequence+`", "minport": 745, "cipher": "Blowfish", "password": "knock"}`
			}
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
			req.Host = tc.host
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s, Host %q: %d, want %d\n%s", method, path, tc.host, resp.StatusCode, tc.want, b)
			}
			if tc.want == http.StatusForbidden && !strings.Contains(string(b), "the lab answers only to its own address, "+addr+" or localhost:"+port) {
				t.Errorf("Host %q: the refusal does not say where the lab is: %s", tc.host, b)
			}
		}
	}
}

// TestGuardOrigin: a request from a page elsewhere is refused; one from
// the lab's own page, or from a program (no Origin), is answered.
func TestGuardOrigin(t *testing.T) {
	l := newTestLab(t)
	for _, tc := range []struct {
		origin, site string
		want         int
	}{
		{"", "", http.StatusOK},
		{"http://" + labAddr, "same-origin", http.StatusOK},
		{"null", "same-origin", http.StatusOK}, // the page's own form, no referrer
		{"http://evil.example", "cross-site", http.StatusForbidden},
		{"http://" + labAddr + ".evil.example", "", http.StatusForbidden},
		{"https://" + labAddr, "", http.StatusForbidden},
		{"http://localhost:8080", "same-site", http.StatusForbidden},
		{"null", "", http.StatusForbidden}, // a sandboxed frame elsewhere
		{"null", "cross-site", http.StatusForbidden},
	} {
		req := jsonRequest("/api/decode", `{"sequence": "`+SampleSequence+`", "minport": 745, "cipher": "Blowfish", "password": "knock"}`)
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			req.Header.Set("Sec-Fetch-Site", tc.site)
		}
		a := answer(t, l, req)
		if a.status != tc.want {
			t.Errorf("Origin %q, Sec-Fetch-Site %q: %d, want %d: %v", tc.origin, tc.site, a.status, tc.want, a.Errors)
		}
		if tc.want == http.StatusForbidden && !strings.Contains(a.Errors["form"], "only from its own pages (http://"+labAddr+")") {
			t.Errorf("Origin %q: %v", tc.origin, a.Errors)
		}
		// The form the page posts without JavaScript, likewise.
		form := labRequest("POST", "/", strings.NewReader("mode=legacy"))
		form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.origin != "" {
			form.Header.Set("Origin", tc.origin)
		}
		if tc.site != "" {
			form.Header.Set("Sec-Fetch-Site", tc.site)
		}
		w := httptest.NewRecorder()
		l.ServeHTTP(w, form)
		if refused := w.Code == http.StatusForbidden; refused != (tc.want == http.StatusForbidden) {
			t.Errorf("form post, Origin %q, Sec-Fetch-Site %q: %d", tc.origin, tc.site, w.Code)
		}
	}
}

// TestGuardBodyType: a body is read as JSON only when sent as
// application/json; text/plain, which any page may post anywhere without
// asking, is refused with 415.
func TestGuardBodyType(t *testing.T) {
	l := newTestLab(t)
	json := `{"sequence": "` + SampleSequence + `", "minport": 745, "cipher": "Blowfish", "password": "knock"}`
	for _, tc := range []struct {
		path, ct, body string
		want           int
	}{
		{"/api/decode", "application/json", json, http.StatusOK},
		{"/api/decode", "application/json; charset=utf-8", json, http.StatusOK},
		{"/api/decode", "application/x-www-form-urlencoded", "minport=745&cipher=Blowfish&password=knock&sequence=" + strings.ReplaceAll(SampleSequence, " ", "+"), http.StatusOK},
		{"/api/decode", "text/plain", json, http.StatusUnsupportedMediaType},
		{"/api/decode", "text/plain; charset=utf-8", json, http.StatusUnsupportedMediaType},
		{"/api/encode", "", json, http.StatusUnsupportedMediaType},
		{"/api/encode", "multipart/form-data; boundary=x", json, http.StatusUnsupportedMediaType},
		{"/api/keygen", "", "", http.StatusOK}, // reads no body: curl -X POST
		{"/api/keygen", "text/plain", "{}", http.StatusUnsupportedMediaType},
		{"/", "text/plain", "mode=legacy", http.StatusUnsupportedMediaType},
		{"/", "application/json", json, http.StatusUnsupportedMediaType},
	} {
		req := labRequest("POST", tc.path, strings.NewReader(tc.body))
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		w := httptest.NewRecorder()
		l.ServeHTTP(w, req)
		if w.Code != tc.want {
			t.Errorf("POST %s as %q: %d, want %d\n%s", tc.path, tc.ct, w.Code, tc.want, w.Body)
		}
		if tc.want == http.StatusUnsupportedMediaType && !strings.Contains(w.Body.String(), "Content-Type: application/") {
			t.Errorf("POST %s as %q: the refusal does not say what to send: %s", tc.path, tc.ct, w.Body)
		}
	}
}
