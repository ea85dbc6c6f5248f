package sealed

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Open checks and reads a message whose client address is carried in it.
// A message with an implicit address fails with ErrAuth: use OpenFrom.
func Open(k *Key, b []byte, now time.Time, window time.Duration) (Message, error) {
	return OpenFrom(k, b, netip.Addr{}, now, window)
}

// OpenFrom checks and reads a message that arrived from src, the address
// an implicit message is authenticated against (a carried address is
// authenticated as carried; whether it must equal src is the daemon's
// policy). The timestamp must lie within window of now, both ends
// included, to the second; window is at most MaxWindow.
//
// Work is bounded whatever b holds: a length and header check, then two
// HMAC-SHA256 computations, the tag compared in constant time.
func OpenFrom(k *Key, b []byte, src netip.Addr, now time.Time, window time.Duration) (Message, error) {
	if window < 0 || window > MaxWindow {
		return Message{}, fmt.Errorf("window %v is outside 0 to %v", window, MaxWindow)
	}
	h, addr, err := split(b, src)
	if err != nil {
		return Message{}, err
	}
	tag := b[len(b)-TagSize:]
	sc := k.scratch()
	defer k.release(sc)
	var body [BodySize]byte
	subtle.XORBytes(body[:], b[len(b)-TagSize-BodySize:len(b)-TagSize], sc.keystream(tag))
	t := fullTime(binary.BigEndian.Uint16(body[0:]), now.Unix())
	if subtle.ConstantTimeCompare(sc.tag(h, addr, t, &body), tag) != 1 {
		return Message{}, ErrAuth
	}
	m, err := fields(&body, t)
	if err != nil {
		return Message{}, err
	}
	m.Client, m.Implicit = addr, h&3 == AddrImplicit
	if addr.IsUnspecified() || addr.Is4In6() {
		return Message{}, fmt.Errorf("%w: client address %s", ErrMalformed, addr)
	}
	copy(m.id[:], sc.sum[:])
	if err := checkWindow(t, now, int64(window/time.Second)); err != nil {
		return Message{}, err
	}
	return m, nil
}

// checkWindow checks that Unix second t lies within w seconds of now,
// both ends included.
func checkWindow(t int64, now time.Time, w int64) error {
	switch n := now.Unix(); {
	case t < n-w:
		return fmt.Errorf("%w: sealed at %s, %ds before %s", ErrExpired, time.Unix(t, 0).UTC().Format(time.RFC3339), n-t, now.UTC().Format(time.RFC3339))
	case t > n+w:
		return fmt.Errorf("%w: sealed at %s, %ds after %s", ErrFuture, time.Unix(t, 0).UTC().Format(time.RFC3339), t-n, now.UTC().Format(time.RFC3339))
	}
	return nil
}

// split checks the length and header and finds the address to
// authenticate.
func split(b []byte, src netip.Addr) (byte, netip.Addr, error) {
	if len(b) == 0 {
		return 0, netip.Addr{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	h := b[0]
	switch n := SizeOf(h); {
	case n == 0:
		return 0, netip.Addr{}, fmt.Errorf("%w: header %#02x is not version %d with an address type", ErrMalformed, h, Version)
	case n != len(b):
		return 0, netip.Addr{}, fmt.Errorf("%w: %d bytes, and header %#02x announces %d", ErrMalformed, len(b), h, n)
	case h>>4 != Version:
		return 0, netip.Addr{}, fmt.Errorf("%w: header %#02x is version %d, which a Keyring opens", ErrMalformed, h, h>>4)
	}
	switch h & 3 {
	case AddrIPv4:
		return h, netip.AddrFrom4([4]byte(b[1:5])), nil
	case AddrIPv6:
		return h, netip.AddrFrom16([16]byte(b[1:17])), nil
	}
	if !src.IsValid() {
		return 0, netip.Addr{}, fmt.Errorf("%w: the address is implicit, and no source address was given", ErrAuth)
	}
	return h, src.WithZone("").Unmap(), nil
}

// fullTime reads 16 bits of Unix seconds as the second nearest to now.
func fullTime(low uint16, now int64) int64 {
	return now + int64(int16(low-uint16(now)))
}

// fields reads an authentic body. Fields out of range mean a key holder
// sealed them: no client of this version does.
func fields(b *[BodySize]byte, t int64) (Message, error) {
	m := Message{Time: time.Unix(t, 0).UTC(), Port: binary.BigEndian.Uint16(b[2:]), Proto: TCP}
	flags := binary.BigEndian.Uint16(b[5:])
	m.Nonce = flags & MaxNonce
	m.Close = flags&flagClose != 0
	if flags&flagUDP != 0 {
		m.Proto = UDP
	}
	d, ok := durationOf(b[4])
	m.Duration = d
	switch {
	case !ok:
		return Message{}, fmt.Errorf("%w: duration code %#02x is not canonical", ErrMalformed, b[4])
	case m.Port == 0:
		return Message{}, fmt.Errorf("%w: port 0", ErrMalformed)
	case m.Close && d != 0:
		return Message{}, fmt.Errorf("%w: a close with a duration of %v", ErrMalformed, d)
	}
	return m, nil
}
