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
	out := logs.String()
	for _, leak := range []string{secret, "203.0.113.99", SampleSequence} {
		if strings.Contains(out, leak) {
			t.Errorf("the log holds %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{"path=/api/encode status=200", "path=/api/decode status=400", "fields=[password]", "fields=[minport]"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}
