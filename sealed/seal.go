package sealed

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Seal draws a fresh nonce from rand (crypto/rand.Reader), ignoring
// m.Nonce, and seals m under k. m.Time comes from the caller's clock.
func Seal(k *Key, m Message, rand io.Reader) ([]byte, error) {
	var b [2]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("drawing a nonce: %w", err)
	}
	m.Nonce = binary.BigEndian.Uint16(b[:]) & MaxNonce
	return SealNonce(k, m)
}

// SealNonce seals m with the nonce it carries: nothing is drawn. It is
// for test vectors and the Knock Lab; real knocks come from Seal.
func SealNonce(k *Key, m Message) ([]byte, error) {
	typ, addr, err := m.address()
	if err != nil {
		return nil, err
	}
	body, err := m.body()
	if err != nil {
		return nil, err
	}
	h := header(typ)
	sc := k.scratch()
	defer k.release(sc)
	tag := sc.tag(h, addr, m.Time.Unix(), &body)

	out := make([]byte, 0, sizes[typ])
	out = append(out, h)
	if typ != AddrImplicit {
		out = append(out, addr.AsSlice()...)
	}
	out = append(out, body[:]...)
	subtle.XORBytes(out[len(out)-BodySize:], body[:], sc.keystream(tag))
	return append(out, tag...), nil
}

// address checks the client address and picks the address type.
func (m Message) address() (byte, netip.Addr, error) {
	a := m.Client
	switch {
	case !a.IsValid():
		return 0, a, errors.New("message has no client address (an implicit one too must be given: the address the daemon will see)")
	case a.Zone() != "":
		return 0, a, fmt.Errorf("client address %q has a zone, which a message cannot carry", a)
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return 0, a, fmt.Errorf("client address %s opens for nobody (to bind the packet's source address, set Implicit)", a)
	}
	switch {
	case m.Implicit:
		return AddrImplicit, a, nil
	case a.Is4():
		return AddrIPv4, a, nil
	}
	return AddrIPv6, a, nil
}

// body checks the fields and lays out the body's plaintext.
func (m Message) body() ([BodySize]byte, error) {
	var b [BodySize]byte
	if m.Time.IsZero() {
		return b, errors.New("message has no time")
	}
	if m.Port == 0 {
		return b, errors.New("port 0 cannot be opened")
	}
	flags := m.Nonce
	switch strings.ToLower(m.Proto) {
	case TCP:
	case UDP:
		flags |= flagUDP
	default:
		return b, fmt.Errorf("protocol %q: a message names %q or %q", m.Proto, TCP, UDP)
	}
	if m.Nonce > MaxNonce {
		return b, fmt.Errorf("nonce %d is wider than %d bits", m.Nonce, NonceBits)
	}
	if m.Close {
		flags |= flagClose
		if m.Duration != 0 {
			return b, fmt.Errorf("a close carries no duration, got %v", m.Duration)
		}
	}
	code, ok := durationCode(m.Duration)
	if !ok {
		return b, fmt.Errorf("duration %v cannot be sealed: a message carries 1-63 seconds, minutes, hours or days (the nearest above is %v)", m.Duration, RoundDuration(m.Duration))
	}
	binary.BigEndian.PutUint16(b[0:], uint16(m.Time.Unix()))
	binary.BigEndian.PutUint16(b[2:], m.Port)
	b[4] = code
	binary.BigEndian.PutUint16(b[5:], flags)
	return b, nil
}
