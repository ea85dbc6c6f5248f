// Package lab is the Knock Lab: a web page that builds knocks and decrypts
// them, for people learning how a knock is made and for people checking a
// configuration (does my client's knock decode with my daemon's key?).
//
// It is the prototype's lab page (docs/compat.md), grown where the codec
// allows: any port span, ports above 255 (PORT16), any knock format; and
// it builds and opens the authenticated sealed knock (docs/sealed.md) as
// knockclient and knockdaemon do, over a span or as an SPA datagram. Each
// kind is a mode (mode.go). For the knock on screen it shows every stage
// side by side: the fields as labelled bytes, the ciphertext with its
// header and IV (for a sealed knock: what travels in clear, what is
// encrypted, and the tag), the bit string cut into N-bit groups, and the
// ports those become.
//
// The page works without JavaScript, as plain form posts rendered on the
// server; with it, a small script calls the JSON API (POST /api/encode and
// /api/decode, described at /api) and updates the page in place. Nothing is
// fetched from elsewhere and nothing is stored: a key lives for the one
// request that uses it and is never logged.
//
// The lab decrypts with whatever key it is given, so it is a decryption
// oracle for anyone who can reach it. That is harmless on 127.0.0.1, where
// cmd/knocklab serves it by default, and the reason it says so loudly when
// told to listen anywhere else. A sealed knock's passphrase costs an
// Argon2id derivation of up to 64 MiB: the lab caps its parameters and
// derives one key at a time, so that no number of requests holds more.
package lab

import (
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Options are the lab's edges; the zero value is production.
type Options struct {
	// Rand supplies IVs, RAND fields, nonces and keys; crypto/rand when nil.
	Rand io.Reader
	// Now supplies the time of THIS* fields, and of sealed knocks, made
	// and checked; time.Now when nil.
	Now func() time.Time
	// Location is the time zone of THIS* fields; time.Local when nil, as
	// the prototype used local time.
	Location *time.Location
	// Logger receives one line per request; slog.Default() when nil.
	Logger *slog.Logger
}

// Lab is the Knock Lab, an http.Handler. It is safe for concurrent use.
type Lab struct {
	rand    io.Reader
	now     func() time.Time
	loc     *time.Location
	log     *slog.Logger
	handler http.Handler
	kdfSlot chan struct{} // held while a passphrase's key is derived
}

// New returns the lab.
func New(o Options) *Lab {
	l := &Lab{rand: o.Rand, now: o.Now, loc: o.Location, log: o.Logger, kdfSlot: make(chan struct{}, 1)}
	if l.rand == nil {
		l.rand = rand.Reader
	}
	l.rand = &lockedReader{r: l.rand}
	if l.now == nil {
		l.now = time.Now
	}
	if l.loc == nil {
		l.loc = time.Local
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", l.page)
	mux.HandleFunc("POST /{$}", l.post)
	mux.HandleFunc("GET /api", l.apiDoc)
	mux.HandleFunc("POST /api/encode", l.api("encode"))
	mux.HandleFunc("POST /api/decode", l.api("decode"))
	mux.HandleFunc("POST /api/keygen", l.keygen)
	mux.Handle("GET /static/", staticHandler())
	l.handler = l.recover(secure(l.logRequests(mux)))
	return l
}

// ServeHTTP serves the page, its files and the JSON API.
func (l *Lab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.handler.ServeHTTP(w, r)
}

// lockedReader reads whole buffers under a lock, so that a test's
// deterministic reader can serve concurrent requests.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (lr *lockedReader) Read(p []byte) (int, error) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return io.ReadFull(lr.r, p)
}
