package legacy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/portknock/knock/internal/vector"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
)

// TestVectors runs every file under testdata/vectors: the vectors of the
// compatibility notes, which must reproduce byte for byte, and the negative
// ones, which must fail for the reason they name.
func TestVectors(t *testing.T) {
	vs, err := vector.Glob("testdata/vectors/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Run(strings.TrimSuffix(v.Name, ".txt"), func(t *testing.T) {
			t.Log(v.Comment)
			switch {
			case !v.Has("format"):
				checkSpanVector(t, v)
			case v.Has("expect-encode"):
				checkEncodeError(t, v)
			case v.Has("expect"):
				checkDecodeError(t, v)
			default:
				checkRoundTrip(t, v)
			}
		})
	}
}

func codecFor(t *testing.T, v vector.Vector) *legacy.Codec {
	t.Helper()
	c, err := legacy.New(legacy.Config{Format: v.Get("format"), Cipher: v.Get("cipher"), Key: v.Get("key"), Span: v.Get("span")})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func checkRoundTrip(t *testing.T, v vector.Vector) {
	c := codecFor(t, v)
	vals := v.Values(t)
	iv := v.IV(t)
	wantPorts := v.Ports(t, "ports")
	wantPlain := v.Bytes(t, "plain")

	tr, err := c.TraceWithIV(vals, iv)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if !slices.Equal(tr.Plain, wantPlain) {
		t.Errorf("plain bytes\n got %v\nwant %v", tr.Plain, wantPlain)
	}
	if v.Has("sealed") {
		if want := v.Bytes(t, "sealed"); !slices.Equal(tr.Sealed, want) {
			t.Errorf("sealed bytes\n got %v\nwant %v", tr.Sealed, want)
		}
	}
	if !slices.Equal(tr.Ports, wantPorts) {
		t.Errorf("ports\n got %v\nwant %v", tr.Ports, wantPorts)
	}

	back, err := c.DecodeTrace(wantPorts)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !slices.Equal(back.Plain, wantPlain) {
		t.Errorf("decoded plain bytes\n got %v\nwant %v", back.Plain, wantPlain)
	}
	if !slices.Equal(back.IV, iv) {
		t.Errorf("decoded IV %q, want %q", back.IV, iv)
	}
	f := c.Format()
	if again, err := f.Pack(back.Values); err != nil || !slices.Equal(again, wantPlain) {
		t.Errorf("decoded values repack to %v (%v), want %v", again, err, wantPlain)
	}
}

func checkDecodeError(t *testing.T, v vector.Vector) {
	c := codecFor(t, v)
	_, err := c.Decode(v.Ports(t, "ports"))
	if got := legacy.Reason(err); string(got) != v.Get("expect") {
		t.Fatalf("decode failed for reason %q (%v), want %q", got, err, v.Get("expect"))
	}
	t.Logf("error, as users see it: %v", err)
}

func checkEncodeError(t *testing.T, v vector.Vector) {
	c := codecFor(t, v)
	_, err := c.TraceWithIV(v.Values(t), nil)
	if err == nil || !strings.Contains(err.Error(), v.Get("expect-encode")) {
		t.Fatalf("encode error %v, want one containing %q", err, v.Get("expect-encode"))
	}
}

func checkSpanVector(t *testing.T, v vector.Vector) {
	sp, err := portspan.Parse(v.Get("span"))
	if err != nil {
		t.Fatal(err)
	}
	sealed := v.Bytes(t, "sealed")
	want := v.Ports(t, "ports")
	got := sp.Pack(sealed)
	if !slices.Equal(got, want) {
		t.Errorf("ports\n got %v\nwant %v", got, want)
	}
	if v.Has("symbols") {
		syms := make([]int, len(got))
		for i, p := range got {
			syms[i], _ = sp.Index(p)
		}
		if w := v.Ints(t, "symbols"); !slices.Equal(syms, w) {
			t.Errorf("symbols\n got %v\nwant %v", syms, w)
		}
	}
	back, err := sp.Unpack(want, len(sealed))
	if err != nil || !slices.Equal(back, sealed) {
		t.Errorf("unpack: %v, %v; want %v", back, err, sealed)
	}
}
