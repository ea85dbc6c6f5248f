package lab

import (
	"encoding/hex"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/vector"
	"github.com/portknock/knock/sealed"
)

const sealedVectorGlob = "../sealed/testdata/vectors/*.txt"

// vectorSpan is the span of the vectors that give none: they are
// messages, which the lab carries on a span or in a datagram.
const vectorSpan = "2000-2255"

// sealedVectorLab is a lab whose clock is the vector's "now".
func sealedVectorLab(t *testing.T, v vector.Vector) *Lab {
	now := time.Unix(int64(vectorInt(t, v, "now")), 0)
	return New(Options{Rand: &countingReader{}, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
}

func vectorInt(t testing.TB, v vector.Vector, k string) int {
	t.Helper()
	n, err := strconv.Atoi(v.Get(k))
	if err != nil {
		t.Fatalf("%s: %s: %v", v.Name, k, err)
	}
	return n
}

// sealedDecodeRequest is the decode request of a vector: its ports on its
// span, its datagram, or its message framed as a datagram.
func sealedDecodeRequest(t testing.TB, v vector.Vector) map[string]string {
	req := map[string]string{"mode": "sealed", "key": v.Get("key"), "window": v.Get("window"), "source": v.Get("source")}
	switch {
	case v.Has("ports"):
		req["span"], req["sequence"] = v.Get("span"), v.Get("ports")
	case v.Has("spa"):
		req["spa"], req["sequence"] = "on", v.Get("spa")
	default:
		req["spa"], req["sequence"] = "on", hex.EncodeToString([]byte(sealed.SPAMagic))+v.Get("sealed")
	}
	return req
}

// sealedEncodeRequest is the request that makes an "ok" vector's message
// again: its fields, time and nonce. The duration goes in seconds, which
// the lab writes in the coarsest exact unit, as the message does.
func sealedEncodeRequest(t testing.TB, v vector.Vector) map[string]string {
	d, err := time.ParseDuration(v.Get("duration"))
	if err != nil {
		t.Fatal(err)
	}
	req := map[string]string{"mode": "sealed", "key": v.Get("key"), "ip": v.Get("client"), "port": v.Get("port"),
		"proto": v.Get("proto"), "duration": strconv.Itoa(int(d / time.Second)), "unit": "seconds",
		"timestamp": v.Get("time"), "nonce": v.Get("nonce"), "span": v.Get("span"), "spa": v.Get("spa")}
	if v.Get("implicit") == "yes" {
		req["implicit"] = "on"
	}
	if v.Get("close") == "yes" {
		req["close"], req["duration"] = "on", ""
	}
	if req["span"] == "" {
		req["span"] = vectorSpan
	}
	if v.Has("spa") {
		req["spa"] = "on"
	}
	return req
}

// TestAPISealedVectors puts every sealed test vector through the API: the
// good ones encode to their exact bytes and ports, given their time and
// nonce, and decode back to their fields; the bad ones fail next to the
// field at fault.
func TestAPISealedVectors(t *testing.T) {
	vs, err := vector.Glob(sealedVectorGlob)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, v := range vs {
		t.Run(strings.TrimSuffix(v.Name, ".txt"), func(t *testing.T) {
			t.Log(v.Comment)
			switch {
			case v.Has("passphrase"):
				kinds["kdf"]++
				checkSealedKDF(t, v)
			case v.Has("key-text"):
				kinds["key"]++
				checkSealedKeyText(t, v)
			case v.Get("expect") == "ok":
				kinds["ok"]++
				checkSealedRoundTrip(t, v)
			default:
				kinds["bad"]++
				checkSealedDecodeError(t, v)
			}
		})
	}
	if kinds["ok"] < 10 || kinds["bad"] < 20 || kinds["kdf"] < 2 || kinds["key"] < 4 {
		t.Fatalf("vectors run: %v; did sealed/testdata/vectors move?", kinds)
	}
}

func checkSealedRoundTrip(t *testing.T, v vector.Vector) {
	l := sealedVectorLab(t, v)
	enc := postJSON(t, l, "/api/encode", sealedEncodeRequest(t, v))
	if enc.status != http.StatusOK {
		t.Fatalf("encode: %d %v", enc.status, enc.Errors)
	}
	want := sealedVectorBytes(t, v)
	if got := hex.EncodeToString(bytesOf(enc.Sealed)); got != hex.EncodeToString(want) {
		t.Errorf("encode: message\n got %s\nwant %x", got, want)
	}
	switch {
	case v.Has("ports"):
		if want := ints16(v.Ports(t, "ports")); !slices.Equal(enc.Ports, want) {
			t.Errorf("encode: ports\n got %v\nwant %v", enc.Ports, want)
		}
	case v.Has("spa"):
		if enc.Sequence != v.Get("spa") || hex.EncodeToString(bytesOf(enc.Datagram)) != v.Get("spa") {
			t.Errorf("encode: datagram %s (%v), want %s", enc.Sequence, enc.Datagram, v.Get("spa"))
		}
	}
	dec := postJSON(t, l, "/api/decode", sealedDecodeRequest(t, v))
	if dec.status != http.StatusOK {
		t.Fatalf("decode: %d %v", dec.status, dec.Errors)
	}
	checkSealedFields(t, v, dec.Fields)
	if dec.Values["replay_id"] != v.Get("replay-id") {
		t.Errorf("decode: replay ID %v, want %s", dec.Values["replay_id"], v.Get("replay-id"))
	}
}

// sealedVectorBytes is the message a vector holds, however it holds it.
func sealedVectorBytes(t *testing.T, v vector.Vector) []byte {
	t.Helper()
	if v.Has("sealed") {
		b, err := hex.DecodeString(v.Get("sealed"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	d, err := hex.DecodeString(v.Get("spa"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := sealed.ParseSPA(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bytesOf(x []int) []byte {
	out := make([]byte, len(x))
	for i, c := range x {
		out[i] = byte(c)
	}
	return out
}

// checkSealedFields compares the fields a decode fills back with the
// vector's.
func checkSealedFields(t *testing.T, v vector.Vector, f map[string]string) {
	t.Helper()
	port := f["port"] + f["service"]
	yes := func(s string) string {
		if s == "on" {
			return "yes"
		}
		return "no"
	}
	d := time.Duration(0)
	if f["duration"] != "" {
		n, _ := strconv.Atoi(f["duration"])
		u, ok := unitOf(f["unit"])
		if !ok {
			t.Errorf("unit %q", f["unit"])
		}
		d = time.Duration(n) * u.d
	}
	ts, err := time.Parse(time.RFC3339, f["timestamp"])
	if err != nil {
		t.Errorf("timestamp %q: %v", f["timestamp"], err)
	}
	got := map[string]string{"client": f["ip"], "implicit": yes(f["implicit"]), "port": port, "proto": f["proto"],
		"duration": d.String(), "close": yes(f["close"]), "time": strconv.FormatInt(ts.Unix(), 10), "nonce": f["nonce"]}
	for k, g := range got {
		if want := v.Get(k); g != want {
			t.Errorf("decode: %s = %q, want %q (fields %v)", k, g, want, f)
		}
	}
}

// sealedFailures say where each failure is shown, and how it starts.
var sealedFailures = map[string]struct{ field, text string }{
	"auth":      {"key", "authentication failed: wrong key, or the knock was altered"},
	"expired":   {"window", "expired: sealed at "},
	"future":    {"window", "from the future: sealed at "},
	"malformed": {"sequence", "malformed: "},
}

func checkSealedDecodeError(t *testing.T, v vector.Vector) {
	l := sealedVectorLab(t, v)
	req := sealedDecodeRequest(t, v)
	if v.Get("expect") == "replay" {
		// The lab keeps no replay cache: the same knock opens again, with
		// the same replay ID, which the daemon's cache would refuse.
		a, b := postJSON(t, l, "/api/decode", req), postJSON(t, l, "/api/decode", req)
		if a.status != http.StatusOK || b.status != http.StatusOK || a.Values["replay_id"] != b.Values["replay_id"] {
			t.Fatalf("twice: %d %d, replay IDs %v %v", a.status, b.status, a.Values["replay_id"], b.Values["replay_id"])
		}
		return
	}
	want, ok := sealedFailures[v.Get("expect")]
	if !ok {
		t.Fatalf("vector expects %q, which this test does not know", v.Get("expect"))
	}
	if strings.HasPrefix(v.Get("sealed"), "10") && !v.Has("source") {
		want.field, want.text = "source", "required: this knock's address is implicit"
	}
	dec := postJSON(t, l, "/api/decode", req)
	if dec.status != http.StatusBadRequest || !strings.HasPrefix(dec.Errors[want.field], want.text) {
		t.Fatalf("decode: %d %v; want 400 and a %s error starting %q", dec.status, dec.Errors, want.field, want.text)
	}
	t.Logf("shown next to %s: %s", want.field, dec.Errors[want.field])
	switch v.Get("expect") {
	case "expired", "future":
		// Authentic: what it says is shown and filled back.
		if p := dec.Partial; p == nil || p.OK || p.Fields["ip"] != "203.0.113.7" || p.Fields["nonce"] != "4660" || p.PlainParts == nil {
			t.Errorf("partial result %+v: want the fields of an authentic knock", p)
		}
	case "auth":
		// Only what travels in clear.
		if p := dec.Partial; p == nil || p.Plain != nil || p.Fields != nil || len(p.SealedParts) == 0 {
			t.Errorf("partial result %+v: want the message in clear only", p)
		}
	}
}

// checkSealedKDF: a passphrase with the vector's parameters seals as the
// key the vector derives from it.
func checkSealedKDF(t *testing.T, v vector.Vector) {
	l := newTestLab(t)
	msg := map[string]string{"mode": "sealed", "ip": "203.0.113.7", "port": "22", "duration": "5",
		"timestamp": "1767225600", "nonce": "4660", "span": vectorSpan}
	withKey := map[string]string{"key": v.Get("key")}
	withPass := map[string]string{"password": v.Get("passphrase"), "kdftime": v.Get("kdf-time"),
		"kdfmemory": v.Get("kdf-memory"), "kdfthreads": v.Get("kdf-threads"), "kdfsalt": v.Get("kdf-salt")}
	for k, x := range msg {
		withKey[k], withPass[k] = x, x
	}
	a, b := postJSON(t, l, "/api/encode", withKey), postJSON(t, l, "/api/encode", withPass)
	if a.status != http.StatusOK || b.status != http.StatusOK {
		t.Fatalf("%d %v; %d %v", a.status, a.Errors, b.status, b.Errors)
	}
	if a.Sequence != b.Sequence {
		t.Errorf("the passphrase seals %s, the key %s", b.Sequence, a.Sequence)
	}
}

// checkSealedKeyText: a mistyped key is refused next to the key field,
// and the error does not repeat it.
func checkSealedKeyText(t *testing.T, v vector.Vector) {
	a := postJSON(t, newTestLab(t), "/api/encode", map[string]string{"mode": "sealed", "key": v.Get("key-text"),
		"ip": "203.0.113.7", "port": "22", "span": vectorSpan})
	if a.status != http.StatusBadRequest || a.Errors["key"] == "" || len(a.Errors) != 1 {
		t.Fatalf("%d %v; want 400 and a key error", a.status, a.Errors)
	}
	if strings.Contains(a.Errors["key"], v.Get("key-text")[7:20]) {
		t.Errorf("the error quotes the key: %s", a.Errors["key"])
	}
	t.Logf("shown next to key: %s", a.Errors["key"])
}

// TestSealedStages: the layout of the vectors' IPv4 message on a 12-bit
// span: the message in clear as docs/sealed.md lays it out, the same
// bytes sealed with each part labelled, and bits cut across bytes.
func TestSealedStages(t *testing.T) {
	a := postJSON(t, newTestLab(t), "/api/encode", map[string]any{"mode": "sealed", "key": sealedSample.Key,
		"ip": "203.0.113.7", "port": 22, "duration": 5, "timestamp": 1767225600, "nonce": 4660, "span": "10000-14095"})
	if a.status != http.StatusOK {
		t.Fatal(a.Errors)
	}
	// Header 0x11, the address, time 1767225600 mod 2^16 = 0xb900, port
	// 22, 5 minutes (0x45), open tcp with nonce 4660 (0x1234).
	if got := hex.EncodeToString(bytesOf(a.Plain)); got != "11cb007107b9000016451234" {
		t.Errorf("message in clear %s", got)
	}
	if got := hex.EncodeToString(bytesOf(a.Sealed)); got != "11cb00710736a064172e79b312afa6b2081ad2a8" {
		t.Errorf("sealed %s: not ok-ipv4.txt's", got)
	}
	var names []string
	for _, p := range slices.Concat(a.PlainParts, a.SealedParts) {
		names = append(names, p.Name+"/"+p.Role)
	}
	want := "header/ address/ time/ port/ duration/ flags, nonce/ header/in clear address/in clear time/encrypted port/encrypted duration/encrypted flags, nonce/encrypted tag/in clear"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("parts\n got %s\nwant %s", got, want)
	}
	if a.Bits != 12 || len(a.Groups) != 14 || a.Sequence != "10284 12816 11808 11846 12566 11047 10743 12483 10298 14006 12848 12074 13370 10008" {
		t.Fatalf("%d bits, %d groups, %s", a.Bits, len(a.Groups), a.Sequence)
	}
	if g := a.Groups[0]; len(g.Bits) != 2 || g.Bits[0].Kind != "header" || g.Bits[1].Kind != "client" || g.Bits[1].Bits != "1100" {
		t.Errorf("first group %+v: want the header and the first nibble of 203", g)
	}
	if a.Values["tag"] != "12afa6b2081ad2a8" || a.Values["port"] != float64(22) || a.Values["duration"] != "5m0s" {
		t.Errorf("values %v", a.Values)
	}
}
