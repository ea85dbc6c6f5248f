package lab

import (
	"fmt"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/netip"
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

// guard refuses, before anything reads them, requests that do not come
// from the lab's own pages or from a program on this machine:
//
//   - Host must name the address the request came in on, or a loopback
//     name (localhost, 127.0.0.1, [::1]) with its port. A page elsewhere
//     can point a name of its own at 127.0.0.1 (DNS rebinding) and then
//     read the lab's answers as its own; its requests still carry its
//     name, and are refused (403).
//   - Origin, which a browser sends with every POST and with requests a
//     script makes, must be absent or the lab's own (403): no page
//     elsewhere makes the lab decrypt for it.
//   - A body is read only as JSON sent as application/json (the API) or a
//     form as application/x-www-form-urlencoded: a page elsewhere may post
//     text/plain to any address without asking, and JSON in it was once
//     taken (415).
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, msg := http.StatusForbidden, ""
		if !ownHost(r) {
			msg = fmt.Sprintf("the lab answers only to its own address, %s, and this request is for %q: open the lab at that address", ownAddr(r), r.Host)
		} else if o := r.Header.Get("Origin"); !ownOrigin(r, o) {
			msg = fmt.Sprintf("the lab takes requests only from its own pages (%s), and this one comes from %q", origin(r), o)
		} else if m := bodyTypeProblem(r); m != "" {
			status, msg = http.StatusUnsupportedMediaType, m
		}
		if msg == "" {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeJSON(w, status, apiError{Errors: Errors{"form": msg}})
			return
		}
		http.Error(w, msg, status)
	})
}

// loopbackNames are the names of this machine a Host may give.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// ownHost reports whether r's Host names the lab: the address the request
// came in on, or a loopback name with its port. Without that address (a
// handler called in-process, not served), a loopback name with any port.
func ownHost(r *http.Request) bool {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = strings.Trim(r.Host, "[]"), "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return slices.Contains(loopbackNames, host)
	}
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil || port != fmt.Sprint(ap.Port()) {
		return false
	}
	if slices.Contains(loopbackNames, host) {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap() == ap.Addr().Unmap()
}

// ownAddr is the address a Host should give, for the message.
func ownAddr(r *http.Request) string {
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(local.String()); err == nil {
			return fmt.Sprintf("%s or localhost:%d", ap, ap.Port())
		}
	}
	return "localhost or 127.0.0.1"
}

// ownOrigin reports whether a request's Origin is the lab's own, or
// absent. A browser sends "null" for a form the lab's own page posts,
// since the page sends no referrer (Referrer-Policy: no-referrer); it is
// the lab's own when the browser says so in Sec-Fetch-Site, which no page
// can set.
func ownOrigin(r *http.Request, o string) bool {
	switch o {
	case "", origin(r):
		return true
	case "null":
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	return false
}

// origin is the lab's own origin as a browser writes it, Host being its
// own.
func origin(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// bodyTypeProblem says what is wrong with a request body's type, or ""
// if it may be read: the API reads JSON or a form, the page a form. A
// request without a body (POST /api/keygen reads none) is fine.
func bodyTypeProblem(r *http.Request) string {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return ""
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		return ""
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if mt == "application/json" {
			return ""
		}
		return fmt.Sprintf("the API reads JSON sent as Content-Type: application/json, or a form as application/x-www-form-urlencoded; this body is %q", r.Header.Get("Content-Type"))
	}
	return fmt.Sprintf("the lab reads a form sent as Content-Type: application/x-www-form-urlencoded; this body is %q", r.Header.Get("Content-Type"))
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
// Never the body or the query, which may hold a key. It guards what it
// serves, so that refusals are logged too.
func (l *Lab) logRequests(next http.Handler) http.Handler {
	next = guard(next)
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
