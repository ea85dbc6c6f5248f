package sealed_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

var base = sealed.Message{Client: netip.MustParseAddr("192.0.2.1"), Port: 22, Proto: sealed.TCP, Duration: 5 * time.Minute, Time: time.Unix(1767225600, 0)}

func TestSealRefuses(t *testing.T) {
	key := testKey(t)
	tests := []struct {
		name string
		edit func(*sealed.Message)
		want string
	}{
		{"no client", func(m *sealed.Message) { m.Client = netip.Addr{} }, "no client address"},
		{"zone", func(m *sealed.Message) { m.Client = netip.MustParseAddr("fe80::1%eth0") }, `"fe80::1%eth0" has a zone`},
		{"unspecified", func(m *sealed.Message) { m.Client = netip.IPv6Unspecified() }, "opens for nobody"},
		{"no time", func(m *sealed.Message) { m.Time = time.Time{} }, "no time"},
		{"port 0", func(m *sealed.Message) { m.Port = 0 }, "port 0"},
		{"icmp", func(m *sealed.Message) { m.Proto = "icmp" }, `protocol "icmp"`},
		{"no proto", func(m *sealed.Message) { m.Proto = "" }, `protocol ""`},
		{"wide nonce", func(m *sealed.Message) { m.Nonce = sealed.MaxNonce + 1 }, "wider than 14 bits"},
		{"close with duration", func(m *sealed.Message) { m.Close = true }, "a close carries no duration"},
		{"90 minutes", func(m *sealed.Message) { m.Duration = 90 * time.Minute }, "the nearest above is 2h0m0s"},
		{"negative", func(m *sealed.Message) { m.Duration = -time.Second }, "cannot be sealed"},
		{"64 days", func(m *sealed.Message) { m.Duration = 64 * 24 * time.Hour }, "cannot be sealed"},
		{"sub-second", func(m *sealed.Message) { m.Duration = 1500 * time.Millisecond }, "nearest above is 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base
			tt.edit(&m)
			_, err := sealed.SealNonce(key, m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestSealNormalizes: a mapped IPv4 address is sealed as IPv4, and the
// protocol's case does not matter.
func TestSealNormalizes(t *testing.T) {
	key := testKey(t)
	m := base
	m.Client = netip.MustParseAddr("::ffff:192.0.2.1")
	m.Proto = "UDP"
	b, err := sealed.SealNonce(key, m)
	if err != nil || len(b) != sealed.SizeIPv4 {
		t.Fatalf("%x, %v: want %d bytes", b, err, sealed.SizeIPv4)
	}
	got, err := sealed.Open(key, b, m.Time, time.Minute)
	if err != nil || got.Client != base.Client || got.Proto != sealed.UDP {
		t.Errorf("%+v, %v", got, err)
	}
}

// TestExpires: the daemon may forget a replay ID at Expires, because Open
// refuses the message from then on, and not a nanosecond before.
func TestExpires(t *testing.T) {
	key := testKey(t)
	m := base
	m.Time = time.Unix(1767225600, 999e6) // sealed to the second
	b, err := sealed.SealNonce(key, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, window := range []time.Duration{0, time.Minute, 90500 * time.Millisecond, sealed.MaxWindow} {
		got, err := sealed.Open(key, b, m.Time, window)
		if err != nil {
			t.Fatalf("window %v: %v", window, err)
		}
		exp := got.Expires(window)
		if _, err := sealed.Open(key, b, exp.Add(-time.Nanosecond), window); err != nil {
			t.Errorf("window %v: just before %v: %v", window, exp, err)
		}
		if _, err := sealed.Open(key, b, exp, window); !errors.Is(err, sealed.ErrExpired) {
			t.Errorf("window %v: at %v: %v, want ErrExpired", window, exp, err)
		}
		early := got.Time.Add(-window.Truncate(time.Second) - time.Second)
		if _, err := sealed.Open(key, b, early, window); !errors.Is(err, sealed.ErrFuture) {
			t.Errorf("window %v: at %v: %v, want ErrFuture", window, early, err)
		}
	}
}

func TestOpenRefusesBadWindow(t *testing.T) {
	key := testKey(t)
	b, _ := sealed.SealNonce(key, base)
	for _, w := range []time.Duration{-time.Second, sealed.MaxWindow + time.Second} {
		if _, err := sealed.Open(key, b, base.Time, w); err == nil || sealed.Reason(err) != "" {
			t.Errorf("window %v: %v, want a plain error", w, err)
		}
	}
}

// TestReplayIDs: the ID is stable for one message, differs with the nonce,
// and is zero for a message that was not opened.
func TestReplayIDs(t *testing.T) {
	key := testKey(t)
	if base.ReplayID() != [16]byte{} {
		t.Error("an unopened message has a replay ID")
	}
	ids := map[[16]byte]bool{}
	for n := range uint16(50) {
		m := base
		m.Nonce = n
		b, _ := sealed.SealNonce(key, m)
		a, _ := sealed.Open(key, b, m.Time, time.Minute)
		c, _ := sealed.Open(key, b, m.Time.Add(time.Second), time.Minute)
		if a.ReplayID() != c.ReplayID() {
			t.Fatal("one message, two replay IDs")
		}
		ids[a.ReplayID()] = true
	}
	if len(ids) != 50 {
		t.Errorf("%d replay IDs for 50 nonces", len(ids))
	}
}

// TestLengths is the knock-count table of docs/sealed.md, beside the
// legacy 8-byte Blowfish knock: version 1 and version 2 (one byte more)
// for each address type, and Lengths, every count once, shortest first.
func TestLengths(t *testing.T) {
	tests := []struct {
		span   string
		legacy int
		v1, v2 []int // implicit, IPv4, IPv6
		all    []int
	}{
		{"2000-2255", 8, []int{16, 20, 32}, []int{17, 21, 33}, []int{16, 17, 20, 21, 32, 33}},
		{"10000-14095", 6, []int{11, 14, 22}, []int{12, 14, 22}, []int{11, 12, 14, 22}},
		{"1024-5000,6000-25000,26000-35789", 5, []int{9, 11, 18}, []int{10, 12, 18}, []int{9, 10, 11, 12, 18}},
	}
	for _, tt := range tests {
		sp, err := portspan.Parse(tt.span)
		if err != nil {
			t.Fatal(err)
		}
		v1 := []int{sp.Ports(sealed.SizeImplicit), sp.Ports(sealed.SizeIPv4), sp.Ports(sealed.SizeIPv6)}
		v2 := []int{sp.Ports(sealed.SizeV2Implicit), sp.Ports(sealed.SizeV2IPv4), sp.Ports(sealed.SizeV2IPv6)}
		if !slices.Equal(v1, tt.v1) || !slices.Equal(v2, tt.v2) {
			t.Errorf("%s: v1 %v, v2 %v; want %v, %v", tt.span, v1, v2, tt.v1, tt.v2)
		}
		if got := sealed.Lengths(sp); !slices.Equal(got, tt.all) {
			t.Errorf("%s: %v, want %v", tt.span, got, tt.all)
		}
		if got := sp.Ports(8); got != tt.legacy {
			t.Errorf("%s: legacy %d, want %d", tt.span, got, tt.legacy)
		}
		t.Logf("%5d ports: legacy %d, v1 %v, v2 %v", sp.Size(), sp.Ports(8), v1, v2)
	}
}

// TestLengthsDistinct: on every span size, the three sizes of one version
// take different numbers of ports, and Lengths lists each count once,
// shortest first. Sizes of different versions may share a count (20 and
// 21 bytes on 4096 ports); Decode tells them apart by the header
// (TestDecodeSharedLength).
func TestLengthsDistinct(t *testing.T) {
	for bits := 1; bits <= portspan.MaxBits; bits++ {
		sp, err := portspan.Parse(fmt.Sprintf("0-%d", 1<<bits-1))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range [][3]int{{sealed.SizeImplicit, sealed.SizeIPv4, sealed.SizeIPv6}, {sealed.SizeV2Implicit, sealed.SizeV2IPv4, sealed.SizeV2IPv6}} {
			if a, b, c := sp.Ports(s[0]), sp.Ports(s[1]), sp.Ports(s[2]); a == b || b == c {
				t.Errorf("%d bits: sizes %v take %d, %d, %d ports", bits, s, a, b, c)
			}
		}
		l := sealed.Lengths(sp)
		for i := 1; i < len(l); i++ {
			if l[i] <= l[i-1] {
				t.Errorf("%d bits: %v is not increasing", bits, l)
			}
		}
	}
}

func TestRoundDuration(t *testing.T) {
	for _, tt := range []struct{ in, want time.Duration }{
		{-time.Second, 0}, {0, 0}, {time.Nanosecond, time.Second}, {63 * time.Second, 63 * time.Second},
		{64 * time.Second, 2 * time.Minute}, {90 * time.Minute, 2 * time.Hour}, {63 * time.Hour, 63 * time.Hour},
		{64 * time.Hour, 3 * 24 * time.Hour}, {sealed.MaxDuration, sealed.MaxDuration}, {1 << 62, sealed.MaxDuration},
	} {
		if got := sealed.RoundDuration(tt.in); got != tt.want {
			t.Errorf("RoundDuration(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("x: %w", sealed.ErrAuth): "auth", sealed.ErrExpired: "expired", sealed.ErrFuture: "future",
		fmt.Errorf("%w: %w", sealed.ErrMalformed, portspan.ErrNotInSpan): "malformed", errors.New("other"): "",
	} {
		if got := sealed.Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}
