package metrics_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portknock/knock/metrics"
)

func TestText(t *testing.T) {
	var r metrics.Registry
	rej := r.Counter("knock_rejected_total", "Candidates rejected, by reason.", "reason")
	seen := r.Counter("knock_hits_total", "Packets seen on the span.")
	rej.With("checksum").Add(3)
	rej.With(`we"ird\`).Inc()
	seen.With().Inc()
	r.Gauge("knock_grants_open", "Grants in force.", func() float64 { return 2 })
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := `# HELP knock_rejected_total Candidates rejected, by reason.
# TYPE knock_rejected_total counter
knock_rejected_total{reason="checksum"} 3
knock_rejected_total{reason="we\"ird\\"} 1
# HELP knock_hits_total Packets seen on the span.
# TYPE knock_hits_total counter
knock_hits_total 1
# HELP knock_grants_open Grants in force.
# TYPE knock_grants_open gauge
knock_grants_open 2
`
	if got := rec.Body.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
}
