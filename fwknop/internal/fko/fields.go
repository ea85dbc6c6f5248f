package fko

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Message types (libfko's fko_message_type_t).
const (
	CommandMsg = iota
	AccessMsg
	NATAccessMsg
	ClientTimeoutAccessMsg
	ClientTimeoutNATAccessMsg
	LocalNATAccessMsg
	ClientTimeoutLocalNATAccessMsg
)

// More errors of Parse.
var (
	ErrDigest      = errors.New("inner digest mismatch")
	ErrUnsupported = errors.New("unsupported")
)

// Message is the decrypted plaintext, its fields decoded.
type Message struct {
	Random        string // 16 decimal digits
	User          string
	Timestamp     int64
	Version       string
	Type          int
	Access        string // "ADDRESS,proto/port,..."
	ClientTimeout int    // 0: none (type 1)
	Digest        Digest // the inner digest's algorithm
}

// Encode builds the plaintext of m, inner digest included: the fields as
// libfko's fko_encode_spa_data writes them. Type is set from
// ClientTimeout when it is AccessMsg or ClientTimeoutAccessMsg.
func Encode(m Message) []byte {
	if m.Type == AccessMsg && m.ClientTimeout > 0 {
		m.Type = ClientTimeoutAccessMsg
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%s:%d:%s:%d:%s", m.Random, B64.EncodeToString([]byte(m.User)),
		m.Timestamp, m.Version, m.Type, B64.EncodeToString([]byte(m.Access)))
	if m.ClientTimeout > 0 {
		fmt.Fprintf(&b, ":%d", m.ClientTimeout)
	}
	return AppendDigest([]byte(b.String()), m.Digest)
}

// AppendDigest appends ":" and the inner digest of encoded.
func AppendDigest(encoded []byte, d Digest) []byte {
	return append(append(encoded, fieldSep), d.Sum(encoded)...)
}

// Parse checks and decodes a plaintext: printable, 7 to 9 fields as its
// type requires, each of its form, the inner digest right.
func Parse(pt []byte) (Message, error) {
	var m Message
	for _, c := range pt {
		if c < 0x20 || c > 0x7e {
			return m, fmt.Errorf("%w: the plaintext has a byte that is not printable ASCII", ErrMalformed)
		}
	}
	f := strings.Split(string(pt), string(fieldSep))
	if len(f) < 7 || len(f) > maxFieldCount {
		return m, fmt.Errorf("%w: %d fields, want 7 to 9", ErrMalformed, len(f))
	}
	body := pt[:len(pt)-len(f[len(f)-1])-1]
	if err := checkDigest(&m, body, f[len(f)-1]); err != nil {
		return m, err
	}
	f = f[:len(f)-1]
	if len(f[0]) != RandomDigits || !digits(f[0]) {
		return m, fmt.Errorf("%w: random value %q is not 16 digits", ErrMalformed, f[0])
	}
	m.Random = f[0]
	user, err := b64Field("user", f[1], B64.EncodedLen(MaxUser))
	if err != nil {
		return m, err
	}
	if err := checkUser(user); err != nil {
		return m, err
	}
	m.User = user
	if len(f[2]) > MaxTimestamp || !digits(f[2]) {
		return m, fmt.Errorf("%w: timestamp %q is not 1 to 12 digits", ErrMalformed, f[2])
	}
	m.Timestamp, _ = strconv.ParseInt(f[2], 10, 64)
	if f[3] == "" || len(f[3]) > MaxVersion {
		return m, fmt.Errorf("%w: version %q is not 1 to 8 characters", ErrMalformed, f[3])
	}
	m.Version = f[3]
	if len(f[4]) != 1 || f[4][0] < '0' || f[4][0] > '6' {
		return m, fmt.Errorf("%w: message type %q is not 0 to 6", ErrMalformed, f[4])
	}
	m.Type = int(f[4][0] - '0')
	switch m.Type {
	case AccessMsg:
		if len(f) != 6 {
			return m, unexpected(m.Type, len(f))
		}
	case ClientTimeoutAccessMsg:
		if len(f) != 7 {
			return m, unexpected(m.Type, len(f))
		}
		t := f[6]
		if t == "" || len(t) > 5 || !digits(t) {
			return m, fmt.Errorf("%w: client timeout %q is not a number", ErrMalformed, t)
		}
		m.ClientTimeout, _ = strconv.Atoi(t)
		if m.ClientTimeout < 1 || m.ClientTimeout > MaxTimeout {
			return m, fmt.Errorf("%w: client timeout %d is not 1 to %d", ErrMalformed, m.ClientTimeout, MaxTimeout)
		}
	case CommandMsg:
		return m, fmt.Errorf("%w: a command message (type 0): this daemon runs no commands", ErrUnsupported)
	default:
		return m, fmt.Errorf("%w: a NAT access message (type %d): this daemon does not forward", ErrUnsupported, m.Type)
	}
	access, err := b64Field("access request", f[5], MaxMessage)
	if err != nil {
		return m, err
	}
	m.Access = access
	return m, nil
}

func unexpected(typ, n int) error {
	if typ == AccessMsg && n == 7 || typ == ClientTimeoutAccessMsg && n == 8 {
		return fmt.Errorf("%w: a server_auth field (type %d, %d fields): not supported", ErrUnsupported, typ, n+1)
	}
	return fmt.Errorf("%w: message type %d with %d fields", ErrMalformed, typ, n+1)
}

func checkDigest(m *Message, body []byte, got string) error {
	cands := innerDigests(len(got))
	if cands == nil {
		return fmt.Errorf("%w: an inner digest of %d characters", ErrMalformed, len(got))
	}
	for _, d := range cands {
		if subtle.ConstantTimeCompare([]byte(d.Sum(body)), []byte(got)) == 1 {
			m.Digest = d
			return nil
		}
	}
	return ErrDigest
}

func b64Field(name, s string, max int) (string, error) {
	if s == "" || len(s) > max {
		return "", fmt.Errorf("%w: %s field of %d characters", ErrMalformed, name, len(s))
	}
	b, err := B64.DecodeString(s)
	if err != nil {
		return "", fmt.Errorf("%w: %s field %q is not base64", ErrMalformed, name, s)
	}
	return string(b), nil
}

// checkUser applies libfko's validate_username.
func checkUser(u string) error {
	if u == "" || len(u) > MaxUser {
		return fmt.Errorf("%w: user name of %d bytes", ErrMalformed, len(u))
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c < 0x20 || c > 0x7e || strings.IndexByte(`"/\[]:;|=,+*?<>`, c) >= 0 {
			return fmt.Errorf("%w: user name %q has a forbidden character", ErrMalformed, u)
		}
	}
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
