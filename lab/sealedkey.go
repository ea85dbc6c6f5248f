package lab

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/portknock/knock/sealed"
)

// The sealed knock's key: a key's text, as knockclient -keygen writes it,
// or a passphrase that Argon2id turns into one. A derivation takes up to
// MaxKDFMemory and a fraction of a second of CPU, so the lab caps the
// parameters below what the daemon allows and derives one key at a time:
// whoever can reach the lab can then hold at most MaxKDFMemory of its
// memory, however many requests they send.

// Caps on the passphrase KDF in the lab; sealed.DefaultKDF fits them.
const (
	MaxKDFTime    = 4
	MaxKDFMemory  = 64 * 1024 // KiB
	MaxKDFThreads = 8
)

// kdfWait is how long a request waits for another's derivation to end
// before the lab answers that it is busy.
const kdfWait = 10 * time.Second

// busyText is the error of a request that found the KDF busy; it is
// answered 503, not 400.
const busyText = "busy: the lab derives one passphrase's key at a time, and another is being derived; try again in a moment, or use a key"

var errBusy = errors.New(busyText)

// keyChoice is the key a form gives, checked but not yet derived: the
// expensive part waits until every other field has been read.
type keyChoice struct {
	key   *sealed.Key // from a key's text, or
	pass  string      // a passphrase, with
	kdf   sealed.KDF
	field string // "key" or "password": where errors about the key go
}

// readKey reads the key's text (or a key file's, comments and all) or the
// passphrase and its KDF parameters. package sealed never quotes a key in
// its errors, and neither does the lab.
func readKey(f Form, errs Errors, notes *[]string) keyChoice {
	text := strings.TrimSpace(f.Key)
	kdfGiven := strings.TrimSpace(f.KDFTime+f.KDFMemory+f.KDFThreads+f.KDFSalt) != ""
	switch {
	case text != "" && f.Password != "":
		errs.add("password", "give a key or a passphrase, not both: empty one of them")
	case text != "":
		if kdfGiven {
			*notes = append(*notes, "a key is given: the KDF parameters, which are for a passphrase, are not used")
		}
		k, err := sealed.ParseKeyFile([]byte(text))
		switch {
		case err != nil && !strings.Contains(text, sealed.KeyPrefix):
			errs.add("key", "a key starts with %s, as knockclient -keygen writes it (for a passphrase, open \"or a passphrase instead\")", sealed.KeyPrefix)
		case err != nil:
			errs.add("key", "%v", err)
		}
		return keyChoice{key: k, field: "key"}
	case f.Password != "":
		return keyChoice{pass: f.Password, kdf: readKDF(f, errs), field: "password"}
	default:
		errs.add("key", "required: a key (generate one), or a passphrase instead")
	}
	return keyChoice{field: "key"}
}

// readKDF reads the Argon2id parameters, sealed.DefaultKDF's where empty,
// within the lab's caps.
func readKDF(f Form, errs Errors) sealed.KDF {
	p := sealed.DefaultKDF()
	for _, c := range []struct {
		field, text, what string
		min, max          int
		set               func(int)
	}{
		{"kdftime", f.KDFTime, "number of passes", 1, MaxKDFTime, func(n int) { p.Time = uint32(n) }},
		{"kdfmemory", f.KDFMemory, "memory in KiB", sealed.MinKDFMemory, MaxKDFMemory, func(n int) { p.Memory = uint32(n) }},
		{"kdfthreads", f.KDFThreads, "number of threads", 1, MaxKDFThreads, func(n int) { p.Threads = uint8(n) }},
	} {
		if strings.TrimSpace(c.text) == "" {
			continue
		}
		n, err := parseInt(c.text, c.what)
		switch {
		case err != nil:
			errs.add(c.field, "%v", err)
		case n < c.min:
			errs.add(c.field, "%d is below %d, the least a key derivation may use", n, c.min)
		case n > c.max:
			errs.add(c.field, "%d is above %d, the most the lab spends on one derivation (the daemon takes more)", n, c.max)
		default:
			c.set(n)
		}
	}
	if f.KDFSalt != "" {
		p.Salt = f.KDFSalt
		if len(p.Salt) < sealed.MinSaltLen {
			errs.add("kdfsalt", "%q has %d bytes: a salt has at least %d", p.Salt, len(p.Salt), sealed.MinSaltLen)
		}
	}
	return p
}

// get returns the key, deriving it from the passphrase if need be.
func (c keyChoice) get(ctx context.Context, l *Lab) (*sealed.Key, error) {
	if c.key != nil {
		return c.key, nil
	}
	return l.derive(ctx, c.kdf, c.pass)
}

// derive runs Argon2id, one derivation at a time.
func (l *Lab) derive(ctx context.Context, p sealed.KDF, pass string) (*sealed.Key, error) {
	wait := time.NewTimer(kdfWait)
	defer wait.Stop()
	select {
	case l.kdfSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, errBusy
	case <-wait.C:
		return nil, errBusy
	}
	defer func() { <-l.kdfSlot }()
	return p.Derive(pass)
}

// keyErrors puts a key's failure next to the field it came from: 503 for
// a busy KDF.
func (c keyChoice) errors(err error) Errors {
	if errors.Is(err, errBusy) {
		return Errors{"password": busyText}
	}
	return Errors{c.field: err.Error()}
}

// status is the HTTP status of a request that failed with e: 503 when the
// lab was too busy to try, else 400.
func (e Errors) status() int {
	if e["password"] == busyText {
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// generateKey draws a new key, in the text form knockclient -keygen
// writes.
func (l *Lab) generateKey() (string, error) {
	k, err := sealed.GenerateKey(l.rand)
	if err != nil {
		return "", err
	}
	return sealed.FormatKey(k), nil
}

// keygen serves POST /api/keygen: {"key": "knock1-..."}.
func (l *Lab) keygen(w http.ResponseWriter, r *http.Request) {
	k, err := l.generateKey()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{Errors: Errors{"form": err.Error()}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"key": k})
}
