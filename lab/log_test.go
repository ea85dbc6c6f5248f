package lab

import (
	"bytes"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

// TestLogsKeepNoSecrets: the log has a line per request and the fields at
// fault, never a key, a value typed in, or a name a client made up.
func TestLogsKeepNoSecrets(t *testing.T) {
	var logs bytes.Buffer
	l := New(Options{Rand: &countingReader{}, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	const secret = "hunter2-do-not-log"
	postJSON(t, l, "/api/encode", map[string]any{"ip": "203.0.113.99", "port": 22, "time": 15, "minport": 745, "cipher": "Blowfish", "password": secret})
	postJSON(t, l, "/api/decode", map[string]any{"minport": 745, "cipher": "Blowfish", "password": secret, "sequence": SampleSequence})
	postJSON(t, l, "/api/encode", map[string]any{"ip": "203.0.113.99", secret: 1})
	postForm(t, l, url.Values{"action": {"encode"}, "ip": {"203.0.113.99"}, "password": {secret}, "cipher": {"DES"}})
	// The sealed knock: a key, a mistyped key, a passphrase, a new key.
	sealedKey := "knock1-t2MqVybNqZXJqp3YBlfemHKVBtJVn0vzKfApRDUMDl12zsRx"
	enc := postJSON(t, l, "/api/encode", map[string]any{"mode": "sealed", "ip": "203.0.113.99", "port": 22, "span": "40000-40255", "key": sealedKey})
	postJSON(t, l, "/api/decode", map[string]any{"mode": "sealed", "span": "40000-40255", "key": sealedKey[:50] + "xxxxx", "sequence": enc.Sequence})
	postJSON(t, l, "/api/encode", map[string]any{"mode": "sealed", "ip": "203.0.113.99", "port": 22, "span": "40000-40255",
		"password": secret, "kdfmemory": 8192, "kdftime": 1, "kdfthreads": 1})
	generated := postJSON(t, l, "/api/keygen", "").Key
	_, page := postForm(t, l, url.Values{"action": {"keygen"}, "mode": {"sealed"}})
	out := logs.String()
	if generated == "" || !strings.Contains(page, "knock1-") {
		t.Fatal("no key generated")
	}
	for _, leak := range []string{secret, "203.0.113.99", SampleSequence, sealedKey[7:40], generated[7:40], enc.Sequence} {
		if strings.Contains(out, leak) {
			t.Errorf("the log holds %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{"path=/api/encode status=200", "path=/api/decode status=400", "fields=[password]", "fields=[minport]",
		"mode=sealed ok=false fields=[key]", "path=/api/keygen status=200"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}
