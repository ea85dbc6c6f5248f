package sealed

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func internalUsers(t *testing.T, n int) []User {
	t.Helper()
	us := make([]User, n)
	for i := range us {
		b := sha256.Sum256(fmt.Append(nil, "internal ", i))
		k, err := NewKey(b[:])
		if err != nil {
			t.Fatal(err)
		}
		us[i] = User{Name: fmt.Sprint("u", i), Keys: []*Key{k}}
	}
	return us
}

// forceHint makes every key's hint 0x4242 in every bucket, keeping the
// real PRF's low bits to order them: the worst case, which no attacker
// can cause, since hints come from keys it does not hold.
func forceHint(r *Keyring, now time.Time) {
	real := r.prf
	r.prf = func(k int, b int64) uint64 { return 0x4242<<48 | real(k, b)&(1<<48-1) }
	r.set.Store(nil)
	r.Advance(now)
}

// TestKeyringCollisions: keys that share a hint share its slot and all
// open; beyond SlotCap, keys are shed and counted, and a packet under the
// crowded hint is tried against at most SlotCap keys a table, the bound
// docs/sealed.md names, however many users collide.
func TestKeyringCollisions(t *testing.T) {
	now := time.Unix(1767225600, 30)
	for _, n := range []int{3, SlotCap, 40} {
		t.Run(fmt.Sprint(n, " keys"), func(t *testing.T) {
			us := internalUsers(t, n)
			r, err := NewKeyring(KeyringConfig{Server: "g", Users: us}, now)
			if err != nil {
				t.Fatal(err)
			}
			forceHint(r, now)
			lo, hi := r.span(now)
			tables := int(hi - lo + 1)
			if want := max(0, n-SlotCap) * len(r.set.Load().tables); r.Stats().Shed != want {
				t.Errorf("shed %d, want %d", r.Stats().Shed, want)
			}
			opened := 0
			for i, u := range us {
				s, _ := NewSender(u.Name, u.Keys[0], "g")
				m := Message{Client: netip.MustParseAddr("192.0.2.1"), Port: 22, Proto: TCP, Time: now, Nonce: uint16(i)}
				b := resealHint(t, s, m)
				got, tries, err := r.open(b, netip.Addr{}, now)
				if tries > tables*SlotCap {
					t.Errorf("user %d: %d keys tried, bound %d", i, tries, tables*SlotCap)
				}
				if err == nil && got.User == u.Name {
					opened++
				} else if !errors.Is(err, ErrAuth) {
					t.Errorf("user %d: %v", i, err)
				}
			}
			if want := min(n, SlotCap); opened != want {
				t.Errorf("%d of %d users opened, want %d", opened, n, want)
			}
			garbage := make([]byte, SizeV2IPv4)
			garbage[0], garbage[1], garbage[2] = 0x21, 0x42, 0x42
			_, tries, err := r.open(garbage, netip.Addr{}, now)
			if want := tables * min(n, SlotCap); tries != want || !errors.Is(err, ErrAuth) {
				t.Errorf("garbage under the crowded hint: %d keys tried, %v; want %d, ErrAuth", tries, err, want)
			}
		})
	}
}

// resealHint seals m again with the forced hint in the MAC, as a sender
// whose hint happened to be 0x4242 would have.
func resealHint(t *testing.T, s *Sender, m Message) []byte {
	t.Helper()
	typ, addr, err := m.address()
	if err != nil {
		t.Fatal(err)
	}
	body, err := m.bodyV2()
	if err != nil {
		t.Fatal(err)
	}
	h := byte(Version2<<4) | typ
	sc := s.keys.pool.Get().(*scratch)
	defer s.keys.pool.Put(sc)
	tag := sc.tagV2(h, 0x4242, addr, m.Time.Unix(), &body)
	out := append([]byte{h, 0x42, 0x42}, addr.AsSlice()...)
	out = append(out, body[:]...)
	for i := range BodyV2Size {
		out[len(out)-BodyV2Size+i] ^= sc.keystream(tag)[i]
	}
	return append(out, tag...)
}

// TestKeyringAdvanceAhead: once Advance has run at a second, Open at
// that second never builds a table: the set it reads is the one Advance
// left.
func TestKeyringAdvanceAhead(t *testing.T) {
	now := time.Unix(1767225600, 0)
	r, err := NewKeyring(KeyringConfig{Users: internalUsers(t, 3)}, now)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, SizeV2IPv4)
	garbage[0] = 0x21 // version 2, IPv4: looked up
	for i := range 600 {
		now = now.Add(time.Second)
		r.Advance(now)
		before := r.set.Load()
		if _, err := r.Open(garbage, netip.Addr{}, now); err == nil {
			t.Fatal("zeros open")
		}
		if r.set.Load() != before {
			t.Fatalf("second %d: Open built a table after Advance", i)
		}
		if got := len(before.tables); got != 5 {
			t.Fatalf("second %d: %d tables, want 5 (3 buckets of the window, 1 ahead, 1 behind)", i, got)
		}
		// A packet stamped up to a minute behind builds nothing either.
		if _, err := r.Open(garbage, netip.Addr{}, now.Add(-time.Minute)); err == nil || r.set.Load() != before {
			t.Fatalf("second %d: a packet a minute behind: %v, or a table built", i, err)
		}
	}
}
