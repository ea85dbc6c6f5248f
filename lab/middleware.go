package lab

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// csp allows the lab's own script, style sheet and images and nothing
// else: no inline script or style, no framing, forms posted only here.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// secure sets the headers every response carries. Pages may hold a key in
// their form fields, so nothing but the static files may be cached.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status of a response, for the log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// logRequests logs one line per request: method, path, status, duration.
// Never the body or the query, which may hold a key.
func (l *Lab) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		l.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"took", time.Since(start).Round(time.Microsecond))
	})
}

// logOutcome logs what an encode or decode came to: the fields at fault,
// never their contents.
func (l *Lab) logOutcome(action, mode string, errs Errors) {
	if len(errs) == 0 {
		l.log.Debug(action, "mode", mode, "ok", true)
		return
	}
	var fields []string
	for _, k := range slices.Sorted(maps.Keys(errs)) {
		if !slices.Contains(fieldNames, k) && k != "form" && k != "body" {
			k = "(unknown)" // a name the client made up: not ours to log
		}
		fields = append(fields, k)
	}
	l.log.Info(action, "mode", mode, "ok", false, "fields", fields)
}

// recover turns a panic into a page that says so, not a dropped
// connection. The panic value is logged; the request is not.
func (l *Lab) recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				l.log.Error("panic while serving", "path", r.URL.Path, "panic", p)
				http.Error(w, "the lab failed on this request: a bug, please report it", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
