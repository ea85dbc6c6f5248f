package lab

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/sealed"
)

// The sealed knock without JavaScript, and the checks of its fields.

// sealedForm is the sealed sample as a form post, with an action.
func sealedForm(action string, kv ...string) url.Values {
	v := url.Values{"action": {action}}
	for _, k := range fieldNames {
		if s := *sealedSample.field(k); s != "" {
			v.Set(k, s)
		}
	}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

var knockOut = regexp.MustCompile(`<output id="knock-out">([0-9a-f ]+)</output>`)

// TestFormSealedModeSwitch: without JavaScript, the selector's switch
// button shows the page again in the chosen mode, with the other mode's
// fields disabled so that names both use are sent once.
func TestFormSealedModeSwitch(t *testing.T) {
	status, page := postForm(t, newTestLab(t), url.Values{"action": {"mode"}, "mode": {"sealed"}, "ip": {"192.0.2.7"}})
	if status != http.StatusOK {
		t.Fatalf("status %d\n%s", status, errorsIn(page))
	}
	mustContain(t, page, `<option value="sealed" selected>`, `<fieldset class="mode" data-mode="legacy" disabled hidden>`,
		`<fieldset class="mode" data-mode="sealed">`, `id="s-ip" name="ip" value="192.0.2.7"`, `id="ip" name="ip" value="192.0.2.7"`)
	if strings.Contains(page, `id="knock-out"`) {
		t.Error("switching mode made a knock")
	}
	status, page = postForm(t, newTestLab(t), url.Values{"action": {"mode"}, "mode": {"quantum"}})
	if status != http.StatusBadRequest || !strings.Contains(page, `unknown mode &#34;quantum&#34;`) {
		t.Errorf("unknown mode: %d %s", status, errorsIn(page))
	}
}

// TestFormSealedEncodeThenDecode: the sample, a clear, the knock pasted
// back: the fields return. Then a port changed: the tag fails, next to
// the key, and only what travels in clear is shown.
func TestFormSealedEncodeThenDecode(t *testing.T) {
	l := newTestLab(t)
	status, page := postForm(t, l, url.Values{"action": {"sample"}, "mode": {"sealed"}})
	if status != http.StatusOK {
		t.Fatalf("sample: status %d\n%s", status, errorsIn(page))
	}
	mustContain(t, page, "20 ports of the span <code>40000-40255</code>", "sealed v1, IPv4 address, 20 bytes",
		`<b>tag</b> <span class="role">in clear</span>`, `<b>port</b> <span class="role">encrypted</span>`,
		`<b>duration</b> <span class="text">0x45: 5 minutes</span>`, "open, tcp, nonce 4660", "sealed at the lab&#39;s clock, 2026-03-07T14:05:09Z")
	seq := knockOut.FindStringSubmatch(page)
	if seq == nil {
		t.Fatal("no knock on the page")
	}
	_, page = postForm(t, l, sealedForm("clear", "sequence", seq[1]))
	mustContain(t, page, `id="s-ip" name="ip" value=""`, `id="nonce" name="nonce" value=""`, `value="`+sealedSample.Key+`"`,
		`id="s-span" name="span" value="40000-40255"`, `></textarea>`)

	status, page = postForm(t, l, url.Values{"action": {"decode"}, "mode": {"sealed"}, "key": {sealedSample.Key},
		"span": {"40000-40255"}, "sequence": {strings.ReplaceAll(seq[1], " ", ", ")}})
	if status != http.StatusOK {
		t.Fatalf("decode: status %d\n%s", status, errorsIn(page))
	}
	mustContain(t, page, "The knock, decrypted", `id="s-ip" name="ip" value="203.0.113.7"`, `id="duration" name="duration" value="5"`,
		`<option selected>minutes</option>`, `id="nonce" name="nonce" value="4660"`, `id="timestamp" name="timestamp" value="2026-03-07T14:05:09Z"`,
		`<option value="22" selected>ssh (22)</option>`, `>`+seq[1]+`</textarea>`)

	ports := strings.Fields(seq[1])
	ports[19] = map[bool]string{true: "40000", false: "40255"}[ports[19] == "40255"]
	status, page = postForm(t, l, url.Values{"action": {"decode"}, "mode": {"sealed"}, "key": {sealedSample.Key},
		"span": {"40000-40255"}, "sequence": {strings.Join(ports, " ")}})
	if status != http.StatusBadRequest {
		t.Fatalf("changed port: status %d", status)
	}
	mustContain(t, page, `<p class="error" id="key-err">authentication failed: wrong key, or the knock was altered`,
		"Nothing of the body is shown: the tag does not match.", "not decrypted: the tag does not match")
}

// TestFormSealedExpired: a knock sealed two minutes before the lab's clock
// opens with the fields it carries, filled back, and the error next to
// the window; the advanced fields open to show it.
func TestFormSealedExpired(t *testing.T) {
	l := newTestLab(t)
	then := testClock.Add(-2 * time.Minute).Format(time.RFC3339)
	_, page := postForm(t, l, sealedForm("encode", "timestamp", then, "port", "8444", "service", ""))
	mustContain(t, page, "sealed 120 s before the lab&#39;s clock: a daemon with a ±60s window refuses it")
	seq := knockOut.FindStringSubmatch(page)
	if seq == nil {
		t.Fatalf("no knock: %s", errorsIn(page))
	}
	status, page := postForm(t, l, url.Values{"action": {"decode"}, "mode": {"sealed"}, "key": {sealedSample.Key},
		"span": {"40000-40255"}, "sequence": {seq[1]}})
	if status != http.StatusBadRequest {
		t.Fatalf("status %d", status)
	}
	mustContain(t, page, `<p class="error" id="window-err">expired: sealed at `+then+`, 120 s before the lab&#39;s clock (2026-03-07T14:05:09Z); the window is ±60s</p>`,
		"The knock, as far as it could be read", `id="s-port" name="port" value="8444"`, `<details class="advanced" open>`)
	// A wider window takes it.
	status, page = postForm(t, l, url.Values{"action": {"decode"}, "mode": {"sealed"}, "key": {sealedSample.Key},
		"span": {"40000-40255"}, "window": {"120"}, "sequence": {seq[1]}})
	if status != http.StatusOK {
		t.Fatalf("window 120: status %d %s", status, errorsIn(page))
	}
}

// TestFormSealedKeygen: "generate a key" fills in a new key, which seals;
// the passphrase it replaces is emptied.
func TestFormSealedKeygen(t *testing.T) {
	l := newTestLab(t)
	status, page := postForm(t, l, url.Values{"action": {"keygen"}, "mode": {"sealed"}, "password": {"old passphrase"}})
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	m := regexp.MustCompile(`id="key" name="key" value="(knock1-[A-Za-z0-9_-]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no key on the page")
	}
	if _, err := sealed.ParseKey(m[1]); err != nil {
		t.Fatalf("the key does not parse: %v", err)
	}
	if strings.Contains(page, "old passphrase") {
		t.Error("the passphrase is still there")
	}
	a := postJSON(t, l, "/api/keygen", "")
	if k, err := sealed.ParseKey(a.Key); err != nil || a.Key == m[1] {
		t.Fatalf("API key %q: %v (the page's was %q)", a.Key, err, m[1])
	} else if enc := postJSON(t, l, "/api/encode", map[string]string{"mode": "sealed", "key": sealed.FormatKey(k),
		"ip": "192.0.2.7", "port": "22", "span": "40000-40255"}); enc.status != http.StatusOK {
		t.Fatalf("sealing with it: %v", enc.Errors)
	}
}

// TestAPISealedFields: the fields of a sealed knock, each refused with a
// reason next to it, and the notes of what the lab chose.
func TestAPISealedFields(t *testing.T) {
	good := map[string]any{"mode": "sealed", "ip": "192.0.2.7", "port": 22, "key": sealedSample.Key, "span": "40000-40255",
		"timestamp": testClock.Unix(), "nonce": 1}
	with := func(kv ...any) map[string]any { return withFields(good, kv...) }
	errors := []struct {
		name        string
		body        map[string]any
		field, text string
	}{
		{"no address", with("ip", ""), "ip", "required"},
		{"bad address", with("ip", "1.2.3"), "ip", `"1.2.3" is not an IP address`},
		{"unspecified", with("ip", "::"), "ip", ":: opens for nobody"},
		{"zone", with("ip", "fe80::1%eth0"), "ip", "has a zone"},
		{"port 0", with("port", 0), "port", "port 0 cannot be opened"},
		{"no port", with("port", ""), "port", "required"},
		{"protocol", with("proto", "sctp"), "proto", `"sctp" is not a protocol`},
		{"duration", with("duration", "x"), "duration", `"x" is not a number`},
		{"negative duration", with("duration", -1), "duration", "-1 is negative"},
		{"64 days", with("duration", 64, "unit", "days"), "duration", "more than 63 days"},
		{"unit", with("duration", 1, "unit", "weeks"), "unit", `"weeks" is not a unit`},
		{"nonce", with("nonce", 16384), "nonce", "16384 is outside 0-16383"},
		{"timestamp", with("timestamp", "yesterday"), "timestamp", `"yesterday" is not a time`},
		{"no key", with("key", ""), "key", "required"},
		{"key and passphrase", with("password", "pw"), "password", "give a key or a passphrase, not both"},
		{"KDF memory", with("key", "", "password", "pw", "kdfmemory", MaxKDFMemory+1), "kdfmemory", "65537 is above 65536"},
		{"KDF time", with("key", "", "password", "pw", "kdftime", 5), "kdftime", "5 is above 4"},
		{"KDF threads", with("key", "", "password", "pw", "kdfthreads", 0), "kdfthreads", "0 is below 1"},
		{"KDF salt", with("key", "", "password", "pw", "kdfsalt", "short"), "kdfsalt", "a salt has at least 8"},
		{"no span", with("span", ""), "span", "required"},
		{"bad span", with("span", "1-3"), "span", "has 3 ports"},
		{"window", with("window", 28801), "window", "outside 0 to 28800 s"},
		{"source", with("source", "x"), "source", `"x" is not an IP address`},
		{"SPA box", with("spa", "maybe"), "spa", `"maybe" is not on or off`},
	}
	l := newTestLab(t)
	for _, tc := range errors {
		t.Run(tc.name, func(t *testing.T) {
			a := postJSON(t, l, "/api/encode", tc.body)
			if a.status != http.StatusBadRequest || !strings.Contains(a.Errors[tc.field], tc.text) {
				t.Fatalf("%d %q; want 400 and a %s error containing %q", a.status, a.Errors, tc.field, tc.text)
			}
		})
	}
	notes := []struct {
		name string
		body map[string]any
		note string
	}{
		{"rounded up", with("duration", 90), "90 minutes cannot be sealed: a knock carries 1-63 seconds, minutes, hours or days; it asks for 2 hours"},
		{"coarser unit", with("duration", 120, "unit", "s"), "120 seconds is sealed as 2 minutes"},
		{"close", with("close", true, "duration", 5), "a close carries no duration"},
		{"IPv4 in IPv6", with("ip", "::ffff:192.0.2.7"), "is sealed as 192.0.2.7"},
		{"nonce drawn", with("nonce", ""), "nonce 1 drawn at random"},
		{"far from the clock", with("timestamp", "2026-03-07T00:00:00Z"), "beyond 9 h 6 min"},
		{"SPA ignores the span", with("spa", true), "the port span is not used"},
	}
	for _, tc := range notes {
		t.Run(tc.name, func(t *testing.T) {
			a := postJSON(t, l, "/api/encode", tc.body)
			if a.status != http.StatusOK || !slices.ContainsFunc(a.Notes, func(n string) bool { return strings.Contains(n, tc.note) }) {
				t.Fatalf("%d %v: notes %q lack %q", a.status, a.Errors, a.Notes, tc.note)
			}
		})
	}
}

// TestAPISealedDatagram: SPA shows the datagram, and a datagram pasted in
// hex is read as one whether or not the box is ticked.
func TestAPISealedDatagram(t *testing.T) {
	l := newTestLab(t)
	enc := postJSON(t, l, "/api/encode", map[string]any{"mode": "sealed", "ip": "2001:db8::7", "port": 443, "duration": 1,
		"unit": "hours", "key": sealedSample.Key, "spa": true, "nonce": 1})
	if enc.status != http.StatusOK || len(enc.Datagram) != 4+sealed.SizeIPv6 || !strings.HasPrefix(enc.Sequence, "4b4e4b0112") || len(enc.Ports) != 0 {
		t.Fatalf("%d %v: datagram %s, ports %v", enc.status, enc.Errors, enc.Sequence, enc.Ports)
	}
	if p := enc.DatagramParts; len(p) != 2 || p[0].Name != "SPA magic" || len(p[1].Bytes) != sealed.SizeIPv6 {
		t.Errorf("datagram parts %+v", p)
	}
	spaced := regexp.MustCompile(`..`).ReplaceAllString(strings.ToUpper(enc.Sequence), "$0 ")
	dec := postJSON(t, l, "/api/decode", map[string]any{"mode": "sealed", "key": sealedSample.Key, "sequence": spaced})
	if dec.status != http.StatusOK || dec.Fields["ip"] != "2001:db8::7" || dec.Fields["spa"] != "on" || dec.Sequence != enc.Sequence {
		t.Fatalf("%d %v %v", dec.status, dec.Errors, dec.Fields)
	}
	if !slices.ContainsFunc(dec.Notes, func(n string) bool { return strings.Contains(n, "read as an SPA datagram") }) {
		t.Errorf("notes %q", dec.Notes)
	}
	if a := postJSON(t, l, "/api/decode", map[string]any{"mode": "sealed", "key": sealedSample.Key, "spa": true, "sequence": "40017 40203 40000"}); !strings.Contains(a.Errors["spa"], "untick it") {
		t.Errorf("ports with SPA ticked: %d %v", a.status, a.Errors)
	}
	for seq, want := range map[string]string{"4b4e4b0": "not a datagram in hex", "zz": "not a datagram in hex", "4b4e4b0211": "malformed: datagram does not start with the SPA magic"} {
		a := postJSON(t, l, "/api/decode", map[string]any{"mode": "sealed", "key": sealedSample.Key, "spa": true, "sequence": seq})
		if a.status != http.StatusBadRequest || !strings.Contains(a.Errors["sequence"], want) {
			t.Errorf("%q: %d %v, want %q", seq, a.status, a.Errors, want)
		}
	}
}

// TestAPISealedImplicit: an implicit address is sealed but not sent, and
// the decode needs the source; another source fails the tag.
func TestAPISealedImplicit(t *testing.T) {
	l := newTestLab(t)
	enc := postJSON(t, l, "/api/encode", map[string]any{"mode": "sealed", "ip": "198.51.100.9", "implicit": true, "port": 22,
		"key": sealedSample.Key, "span": "40000-40255"})
	if enc.status != http.StatusOK || len(enc.Ports) != sealed.SizeImplicit {
		t.Fatalf("%d %v %v", enc.status, enc.Errors, enc.Ports)
	}
	req := map[string]any{"mode": "sealed", "key": sealedSample.Key, "span": "40000-40255", "sequence": enc.Sequence}
	if a := postJSON(t, l, "/api/decode", req); a.status != http.StatusBadRequest || !strings.Contains(a.Errors["source"], "implicit") {
		t.Errorf("no source: %d %v", a.status, a.Errors)
	}
	req["source"] = "198.51.100.9"
	if a := postJSON(t, l, "/api/decode", req); a.status != http.StatusOK || a.Fields["ip"] != "198.51.100.9" || a.Fields["implicit"] != "on" {
		t.Errorf("right source: %d %v %v", a.status, a.Errors, a.Fields)
	}
	req["source"] = "198.51.100.10"
	if a := postJSON(t, l, "/api/decode", req); a.status != http.StatusBadRequest || !strings.Contains(a.Errors["key"], "another address than the source 198.51.100.10") {
		t.Errorf("wrong source: %d %v", a.status, a.Errors)
	}
}

// TestSealedKDFOneAtATime: while a derivation holds the KDF, a passphrase
// request waits, and one whose client has gone is answered 503 at once;
// a key needs no KDF and is served.
func TestSealedKDFOneAtATime(t *testing.T) {
	l := newTestLab(t)
	l.kdfSlot <- struct{}{} // another request is deriving
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	body := `{"mode": "sealed", "ip": "192.0.2.7", "port": 22, "span": "40000-40255", "password": "pw", "kdfmemory": 8192, "kdftime": 1}`
	req := jsonRequest("/api/encode", body).WithContext(ctx)
	w := httptest.NewRecorder()
	l.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "busy") {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	if a := postJSON(t, l, "/api/encode", map[string]any{"mode": "sealed", "ip": "192.0.2.7", "port": 22, "span": "40000-40255",
		"key": sealedSample.Key}); a.status != http.StatusOK {
		t.Fatalf("with a key: %d %v", a.status, a.Errors)
	}
	<-l.kdfSlot
	if a := postJSON(t, l, "/api/encode", body); a.status != http.StatusOK {
		t.Fatalf("after the other: %d %v", a.status, a.Errors)
	}
}
