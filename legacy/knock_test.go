package legacy_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/internal/vector"
	"github.com/portknock/knock/legacy"
)

func Example() {
	c, _ := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM",
		Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
	ports, _ := c.Encode(legacy.Values{Client: netip.MustParseAddr("142.103.205.1"),
		Port: 22, Flags: map[int]int{0: 15}})
	fmt.Println(ports)
	// Output: [966 914 795 964 831 862 807 932]
}

// fixedClock and counting randomness make encodings repeatable.
func testConfig(format, cipher, span string, iv bool, seed uint64) legacy.Config {
	rng := rand.New(rand.NewPCG(seed, seed))
	return legacy.Config{
		Format: format, Cipher: cipher, Key: "k" + fmt.Sprint(seed), Span: span, IV: iv,
		Rand: readerFunc(func(p []byte) (int, error) {
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			return len(p), nil
		}),
		Now: func() time.Time { return time.Date(2026, 11, 22, 12, 0, int(seed%60), 0, time.UTC) },
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestEncodeDecodeProperty: decode(encode(x)) = x over every cipher, IV
// form, random formats and spans of every size.
func TestEncodeDecodeProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ciphers := append([]string{"none"}, cbc.Names()...)
	fields := []string{"CLIENT", "PORT16", "FLAG0", "FLAG7", "RAND", "THISYEAR", "THISDAY", "THISHOUR", "THISMINUTE", "THISSECOND", "CHECKSUM"}
	for i := 0; i < 600; i++ {
		var fs []string
		for n := 1 + rng.IntN(12); n > 0; n-- {
			f := fields[rng.IntN(len(fields))]
			if f == "CHECKSUM" || !slices.Contains(fs, f) {
				fs = append(fs, f)
			}
		}
		if !slices.Contains(fs, "PORT16") {
			fs = append(fs, "PORT")
		}
		cipher := ciphers[rng.IntN(len(ciphers))]
		bits := 1 + rng.IntN(16)
		first := rng.IntN(65536 - 1<<bits + 1)
		span := fmt.Sprintf("%d-%d", first, first+1<<bits-1)
		iv := cipher != "none" && rng.IntN(2) == 0
		cfg := testConfig(strings.Join(fs, ","), cipher, span, iv, uint64(i))
		c, err := legacy.New(cfg)
		if err != nil {
			t.Fatalf("%+v: %v", cfg, err)
		}
		in := legacy.Values{
			Client: netip.AddrFrom4([4]byte{byte(i), 2, 3, byte(rng.Uint32())}),
			Port:   rng.IntN(256),
			Flags:  map[int]int{0: rng.IntN(256), 7: rng.IntN(256)},
		}
		tr, err := c.Trace(in)
		if err != nil {
			t.Fatalf("%+v: encode: %v", cfg, err)
		}
		if !slices.Contains(c.Lengths(), len(tr.Ports)) {
			t.Fatalf("%+v: %d ports, not among Lengths %v", cfg, len(tr.Ports), c.Lengths())
		}
		back, err := c.DecodeTrace(tr.Ports)
		if err != nil {
			t.Fatalf("%+v: decode %v: %v", cfg, tr.Ports, err)
		}
		if !bytes.Equal(back.Plain, tr.Plain) {
			t.Fatalf("%+v: plain %v decoded as %v", cfg, tr.Plain, back.Plain)
		}
		if back.Values.Port != tr.Values.Port {
			t.Fatalf("%+v: values %+v decoded as %+v", cfg, tr.Values, back.Values)
		}
	}
}

func TestEncodeUsesClockAndRandomness(t *testing.T) {
	cfg := testConfig("RAND,THISMINUTE,THISSECOND,CHECKSUM", "Blowfish", "745-1000", true, 9)
	c, _ := legacy.New(cfg)
	tr, err := c.Trace(legacy.Values{})
	if err != nil {
		t.Fatal(err)
	}
	now := cfg.Now()
	if tr.Values.Time.Minute != (60*now.Hour()+now.Minute())%256 || tr.Values.Time.Second != int(now.Unix()%256) {
		t.Errorf("time fields %+v do not come from the clock %v", tr.Values.Time, now)
	}
	if len(tr.IV) != 8 || !bytes.HasPrefix(tr.Sealed, []byte(cbc.Header)) {
		t.Errorf("IV %x, sealed %q: want an 8-byte IV after the header", tr.IV, tr.Sealed[:8])
	}
	if _, err := legacy.New(legacy.Config{Format: "CLIENT", Span: "0-255", IV: true}); err == nil {
		t.Error("an IV without a cipher must be refused")
	}
	if _, err := legacy.New(legacy.Config{Format: "CLIENT", Span: "0-255", Cipher: "Blowfish"}); err == nil {
		t.Error("a cipher without a key must be refused")
	}
}

// FuzzDecode feeds arbitrary port sequences to codecs of every cipher:
// never a panic, every error has a reason, and whatever decodes without
// error encodes back to the same ports.
func FuzzDecode(f *testing.F) {
	vs, err := vector.Glob("testdata/vectors/*.txt")
	if err != nil {
		f.Fatal(err)
	}
	var codecs []*legacy.Codec
	for i, v := range vs {
		if !v.Has("format") || v.Has("expect-encode") {
			continue
		}
		c, err := legacy.New(legacy.Config{Format: v.Get("format"), Cipher: v.Get("cipher"), Key: v.Get("key"), Span: v.Get("span")})
		if err != nil {
			f.Fatal(err)
		}
		codecs = append(codecs, c)
		var raw []byte
		for _, p := range v.Ports(f, "ports") {
			raw = append(raw, byte(p>>8), byte(p))
		}
		f.Add(uint8(i), raw)
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		c := codecs[int(which)%len(codecs)]
		ports := make([]uint16, len(raw)/2)
		for i := range ports {
			ports[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
		}
		tr, err := c.DecodeTrace(ports)
		if err != nil {
			if legacy.Reason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		again, err := c.TraceWithIV(tr.Values, tr.IV)
		if err != nil || !slices.Equal(again.Ports, ports) {
			t.Fatalf("%v decodes to %+v, which encodes to %v (%v)", ports, tr.Values, again.Ports, err)
		}
	})
}

func TestReason(t *testing.T) {
	if legacy.Reason(errors.New("x")) != "" || legacy.Reason(nil) != "" {
		t.Fatal("Reason of an unrelated error must be empty")
	}
}
