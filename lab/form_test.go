package lab

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The page without JavaScript: plain form posts, answered with the whole
// page rendered on the server.

func TestFormSample(t *testing.T) {
	status, page := postForm(t, newTestLab(t), url.Values{"action": {"sample"}})
	if status != http.StatusOK {
		t.Fatalf("status %d\n%s", status, page)
	}
	mustContain(t, page,
		`<output id="knock-out">`+SampleSequence+`</output>`,
		`>`+SampleSequence+`</textarea>`,
		`<code id="plain-out">142 103 205 1 22 15 233</code>`,
		`<table class="bits" id="bit-table">`,
		// The first group: ciphertext byte 221 is bits 11011101, port 745+221.
		`<td class="bitcell"><span class="seg k-ciphertext" title="byte 0">11011101</span></td><td>221</td><td class="port">966</td>`,
		`<figure class="part k-client">`, `<b>CLIENT</b> <span class="role">IP</span> <span class="text">142.103.205.1</span>`,
		`<b>padding</b>`,
		`value="142.103.205.1"`, `<option value="22" selected>ssh (22)</option>`,
	)
}

func TestFormEncodeThenDecode(t *testing.T) {
	l := newTestLab(t)
	status, page := postForm(t, l, url.Values{"action": {"encode"}, "ip": {"192.0.2.7"}, "port": {"8080"},
		"time": {"30"}, "mask": {"24"}, "span": {"1024-5000,6000-25000,26000-35789"}, "cipher": {"IDEA"}, "password": {"s3cret"}})
	if status != http.StatusOK {
		t.Fatalf("encode: status %d\n%s", status, errorsIn(page))
	}
	mustContain(t, page, "port 8080 does not fit in one byte: the knock carries it as PORT16",
		"knock format <code>CLIENT,PORT16,FLAG0,FLAG1,CHECKSUM</code> (chosen by the lab)", "15 bits each")
	seq := regexp.MustCompile(`<output id="knock-out">([0-9 ]+)</output>`).FindStringSubmatch(page)
	if seq == nil {
		t.Fatal("no knock on the page")
	}
	status, page = postForm(t, l, url.Values{"action": {"decode"}, "mask": {"24"}, "span": {"1024-5000,6000-25000,26000-35789"},
		"cipher": {"IDEA"}, "password": {"s3cret"}, "sequence": {strings.ReplaceAll(seq[1], " ", ", ")}})
	if status != http.StatusOK {
		t.Fatalf("decode: status %d\n%s", status, errorsIn(page))
	}
	mustContain(t, page, "The knock, decrypted", `id="ip" name="ip" value="192.0.2.7"`, `id="time" name="time" value="30"`,
		`id="mask" name="mask" value="24"`, `<option value="8080" selected>http-alt (8080)</option>`, `>`+seq[1]+`</textarea>`)
}

// TestFormErrors: errors appear next to their field, escaped, with the
// field marked invalid, and the page keeps what was typed.
func TestFormErrors(t *testing.T) {
	status, page := postForm(t, newTestLab(t), url.Values{"action": {"encode"}, "ip": {"<script>alert(1)</script>"},
		"port": {"-5"}, "time": {"15"}, "minport": {"745"}, "cipher": {"Blowfish"}, "password": {"pw"}})
	if status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", status)
	}
	mustContain(t, page,
		`<p class="error" id="ip-err">&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34; is not an IP address`,
		`<p class="error" id="port-err">port -5 is negative: ports are 0-65535</p>`,
		`value="&lt;script&gt;alert(1)&lt;/script&gt;"`,
		`aria-describedby="ip-help ip-err" aria-invalid="true"`,
	)
	if strings.Contains(page, "<script>alert") {
		t.Error("the page carries the script typed into it")
	}
	if strings.Contains(page, `id="knock-out"`) {
		t.Error("a knock is shown despite the errors")
	}
}

func TestFormDecodeErrors(t *testing.T) {
	l := newTestLab(t)
	status, page := postForm(t, l, url.Values{"action": {"decode"}, "minport": {"745"}, "cipher": {"Blowfish"},
		"password": {"wrong"}, "sequence": {SampleSequence}})
	if status != http.StatusBadRequest {
		t.Fatalf("status %d", status)
	}
	mustContain(t, page, `<p class="error" id="password-err">does not decrypt with this key: bad padding`,
		"The knock, as far as it could be read", "No plain bytes: the knock did not decrypt.", `<td class="port">966</td>`)
}

func TestFormClear(t *testing.T) {
	_, page := postForm(t, newTestLab(t), url.Values{"action": {"clear"}, "ip": {"192.0.2.7"}, "time": {"3"},
		"minport": {"745"}, "cipher": {"DES"}, "password": {"kept"}, "sequence": {"1 2 3"}})
	mustContain(t, page, `id="ip" name="ip" value=""`, `id="minport" name="minport" value="745"`,
		`<option selected>DES</option>`, `value="kept"`, `></textarea>`)
}

func TestFormOversize(t *testing.T) {
	status, page := postForm(t, newTestLab(t), url.Values{"action": {"decode"}, "sequence": {strings.Repeat("1 ", MaxBody)}})
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", status)
	}
	mustContain(t, page, "the request is over 16384 bytes")
}

func TestFormUnknownAction(t *testing.T) {
	status, page := postForm(t, newTestLab(t), url.Values{"action": {"explode"}})
	if status != http.StatusBadRequest {
		t.Fatalf("status %d", status)
	}
	mustContain(t, page, `unknown action &#34;explode&#34;`)
}

// TestPageSafety: the page loads no script or style but its own files,
// has no inline script, style or event handler for the CSP to block, and
// every response carries the security headers.
func TestPageSafety(t *testing.T) {
	l := newTestLab(t)
	for _, path := range []string{"/", "/api", "/static/lab.css"} {
		w := httptest.NewRecorder()
		l.ServeHTTP(w, labRequest("GET", path, nil))
		h := w.Header()
		if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") ||
			h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, h)
		}
		if path == "/static/lab.css" {
			continue
		}
		page := w.Body.String()
		for _, bad := range []string{`<script>`, ` style=`, ` onclick=`, ` onsubmit=`, `http://`, `https://`} {
			if strings.Contains(page, bad) && !(path == "/api" && strings.Contains(bad, "http://")) {
				t.Errorf("%s contains %q", path, bad)
			}
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
		}
	}
}

func mustContain(t *testing.T, page string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(page, p) {
			t.Errorf("page lacks %q", p)
		}
	}
	if t.Failed() {
		t.Logf("errors on the page: %s", errorsIn(page))
	}
}

var errorLine = regexp.MustCompile(`<p class="error[^"]*" id="[a-z]+-err">[^<]+</p>`)

func errorsIn(page string) string {
	return strings.Join(errorLine.FindAllString(page, -1), "\n")
}
