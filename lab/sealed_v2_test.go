package lab

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portknock/knock/internal/vector"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/sealed"
)

const sealedV2VectorGlob = "../sealed/testdata/vectors-v2/*.txt"

// labV2Outcomes are the vectors whose outcome differs in the lab, which
// opens as a daemon of one user with the widest window a keyring has.
var labV2Outcomes = map[string]string{
	// A keyring of one user opens version 1 as that user's; the vector's
	// keyring has three and names no version 1 user.
	"v2-bad-v1-many-users.txt": "opens",
	// The lab's tables reach 5 minutes back: the knock is authentic and
	// shown, but outside the 60 s window.
	"v2-bad-bucket-rotated-out.txt": "expired",
}

// v2LabUser is the one user (and key) the lab opens a vector with: the
// vector's user for a good one, its version 1 user, Carol's new key for
// a rollover, else Alice.
func v2LabUser(v vector.Vector) (user, key string) {
	keys := func(u string) []string { return strings.Fields(v.Get("user-" + u)) }
	switch {
	case v.Has("sender-key"):
		return v.Get("sender-user"), v.Get("sender-key")
	case v.Has("user"):
		return v.Get("user"), keys(v.Get("user"))[0]
	case v.Has("v1-user"):
		return v.Get("v1-user"), keys(v.Get("v1-user"))[0]
	case strings.Contains(v.Name, "rollover"):
		k := keys("carol")
		return "carol", k[len(k)-1]
	}
	return "alice", keys("alice")[0]
}

// v2DecodeRequest is a v2 vector's decode request: the lab's one user
// and key, the keyring's server name.
func v2DecodeRequest(t testing.TB, v vector.Vector) map[string]string {
	req := sealedDecodeRequest(t, v)
	req["user"], req["key"] = v2LabUser(v)
	req["server"] = v.Get("keyring")
	return req
}

// TestAPISealedV2Vectors puts every version 2 vector through the API, as
// a daemon of the one user the request names: the good ones seal again
// to their bytes (version 1 ones without a user) and open with the user
// shown; the bad ones fail next to the field at fault.
func TestAPISealedV2Vectors(t *testing.T) {
	vs, err := vector.Glob(sealedV2VectorGlob)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, v := range vs {
		t.Run(strings.TrimSuffix(v.Name, ".txt"), func(t *testing.T) {
			t.Log(v.Comment)
			expect := v.Get("expect")
			if o, ok := labV2Outcomes[v.Name]; ok {
				t.Logf("in the lab: %s, not %s", o, expect)
				expect = o
			}
			kinds[expect]++
			switch expect {
			case "ok":
				checkV2RoundTrip(t, v)
			case "opens":
				dec := postJSON(t, sealedVectorLab(t, v), "/api/decode", v2DecodeRequest(t, v))
				if user, _ := v2LabUser(v); dec.status != http.StatusOK || dec.Values["user"] != user {
					t.Fatalf("decode: %d %v, user %v; want it open as %s's", dec.status, dec.Errors, dec.Values["user"], user)
				}
			case "replay":
				l, req := sealedVectorLab(t, v), v2DecodeRequest(t, v)
				a, b := postJSON(t, l, "/api/decode", req), postJSON(t, l, "/api/decode", req)
				if a.status != http.StatusOK || b.status != http.StatusOK || a.Values["replay_id"] != b.Values["replay_id"] {
					t.Fatalf("twice: %d %v, %d; replay IDs %v %v", a.status, a.Errors, b.status, a.Values["replay_id"], b.Values["replay_id"])
				}
			default:
				checkV2DecodeError(t, v, expect)
			}
		})
	}
	if kinds["ok"] < 15 || kinds["auth"] < 15 || kinds["malformed"] < 8 || kinds["expired"] < 2 || kinds["future"] < 1 {
		t.Fatalf("vectors run: %v; did sealed/testdata/vectors-v2 move?", kinds)
	}
}

func checkV2RoundTrip(t *testing.T, v vector.Vector) {
	l := sealedVectorLab(t, v)
	user, key := v2LabUser(v)
	enc := sealedEncodeRequest(t, v)
	enc["key"] = key
	if v.Has("sender-key") { // else a version 1 message: sealed without a user
		enc["user"], enc["server"] = user, v.Get("sender-server")
	}
	if v.Has("source") && v.Get("implicit") == "yes" {
		enc["ip"] = v.Get("source")
	}
	a := postJSON(t, l, "/api/encode", enc)
	if a.status != http.StatusOK {
		t.Fatalf("encode: %d %v", a.status, a.Errors)
	}
	want := sealedVectorBytes(t, v)
	if got := hex.EncodeToString(bytesOf(a.Sealed)); got != hex.EncodeToString(want) {
		t.Errorf("encode: message\n got %s\nwant %x", got, want)
	}
	if v.Has("ports") {
		if want := ints16(v.Ports(t, "ports")); !slices.Equal(a.Ports, want) {
			t.Errorf("encode: ports\n got %v\nwant %v", a.Ports, want)
		}
	}
	if v.Has("spa") && a.Sequence != v.Get("spa") {
		t.Errorf("encode: datagram %s, want %s", a.Sequence, v.Get("spa"))
	}
	dec := postJSON(t, l, "/api/decode", v2DecodeRequest(t, v))
	if dec.status != http.StatusOK {
		t.Fatalf("decode: %d %v", dec.status, dec.Errors)
	}
	checkSealedFields(t, v, dec.Fields)
	if dec.Values["replay_id"] != v.Get("replay-id") && v.Has("replay-id") {
		t.Errorf("decode: replay ID %v, want %s", dec.Values["replay_id"], v.Get("replay-id"))
	}
	if want := v.Get("user"); want != "" && dec.Values["user"] != want {
		t.Errorf("decode: user %v, want %s", dec.Values["user"], want)
	}
	t.Logf("decoded as %s", dec.Format)
}

func checkV2DecodeError(t *testing.T, v vector.Vector, expect string) {
	want, ok := sealedFailures[expect]
	if !ok {
		t.Fatalf("vector expects %q, which this test does not know", expect)
	}
	header := v.Get("sealed")
	if v.Has("ports") {
		span, err := portspan.Parse(v.Get("span"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := span.Unpack(v.Ports(t, "ports"), sealed.SizeV2IPv4)
		header = hex.EncodeToString(b[:1])
	}
	switch {
	case expect == "auth" && strings.HasPrefix(header, "2"):
		want.field, want.text = "user", "authentication failed: no key of this user and server opens it"
	}
	if strings.HasPrefix(header, "20") && !v.Has("source") {
		want.field, want.text = "source", "required: this knock's address is implicit"
	}
	dec := postJSON(t, sealedVectorLab(t, v), "/api/decode", v2DecodeRequest(t, v))
	if dec.status != http.StatusBadRequest || !strings.HasPrefix(dec.Errors[want.field], want.text) {
		t.Fatalf("decode: %d %v; want 400 and a %s error starting %q", dec.status, dec.Errors, want.field, want.text)
	}
	t.Logf("shown next to %s: %s", want.field, dec.Errors[want.field])
	if expect == "auth" {
		if p := dec.Partial; p == nil || p.Plain != nil || p.Fields != nil || len(p.SealedParts) == 0 {
			t.Errorf("partial result %+v: want the message in clear only", p)
		}
	}
}

// TestFormSealedV2: without JavaScript, a user and server seal version 2,
// laid out with its hint; pasted back with the same user it opens and
// names the user; with another server it fails next to the user.
func TestFormSealedV2(t *testing.T) {
	l := newTestLab(t)
	status, page := postForm(t, l, sealedForm("encode", "user", "alice", "server", "gate-a.example.net", "nonce", "65535"))
	if status != http.StatusOK {
		t.Fatalf("encode: status %d\n%s", status, errorsIn(page))
	}
	mustContain(t, page, "21 ports of the span <code>40000-40255</code>",
		"sealed v2 for user &#34;alice&#34; and the server &#34;gate-a.example.net&#34;, IPv4 address, 21 bytes",
		`<b>hint</b> <span class="role">in clear</span>`, `<b>time offset, flags</b> <span class="role">encrypted</span>`,
		"nonce 65535", `id="user" name="user" value="alice"`, `id="server" name="server" value="gate-a.example.net"`)
	seq := knockOut.FindStringSubmatch(page)
	if seq == nil {
		t.Fatal("no knock on the page")
	}
	decode := func(kv ...string) (int, string) {
		v := url.Values{"action": {"decode"}, "mode": {"sealed"}, "key": {sealedSample.Key}, "span": {"40000-40255"}, "sequence": {seq[1]}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return postForm(t, l, v)
	}
	status, page = decode("user", "alice", "server", "gate-a.example.net")
	if status != http.StatusOK {
		t.Fatalf("decode: status %d\n%s", status, errorsIn(page))
	}
	mustContain(t, page, "The knock, decrypted", "sealed v2 for user &#34;alice&#34;", `id="s-ip" name="ip" value="203.0.113.7"`,
		`id="nonce" name="nonce" value="65535"`, `id="user" name="user" value="alice"`)

	status, page = decode("user", "alice", "server", "gate-b.example.net")
	if status != http.StatusBadRequest {
		t.Fatalf("another server: status %d", status)
	}
	mustContain(t, page, `<p class="error" id="user-err">authentication failed: no key of this user and server opens it`,
		"not decrypted: the tag does not match")
	status, page = decode()
	if status != http.StatusBadRequest {
		t.Fatalf("no user: status %d", status)
	}
	mustContain(t, page, `<p class="error" id="user-err">required: this is a version 2 knock`)
}

// TestAPISealedV2Fields: the user and server fields, refused next to
// themselves, and what they change in the other fields.
func TestAPISealedV2Fields(t *testing.T) {
	good := map[string]any{"mode": "sealed", "ip": "192.0.2.7", "port": 22, "key": sealedSample.Key, "span": "40000-40255",
		"timestamp": testClock.Unix(), "nonce": 1, "user": "alice", "server": "gate-a"}
	with := func(kv ...any) map[string]any { return withFields(good, kv...) }
	l := newTestLab(t)
	for _, tc := range []struct {
		name        string
		body        map[string]any
		field, text string
	}{
		{"control character in user", with("user", "al\x01ice"), "user", "holds a control character"},
		{"long server", with("server", strings.Repeat("g", 256)), "server", "is 256 bytes, at most 255"},
		{"16-bit nonce", with("nonce", 65536), "nonce", "65536 is outside 0-65535: the nonce has 16 bits"},
		{"version 1 nonce", with("user", "", "server", "", "nonce", 16384), "nonce", "16384 is outside 0-16383"},
		{"window beyond a keyring's", with("window", 301), "window", "301 s is wider than 300 s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := postJSON(t, l, "/api/encode", tc.body)
			if a.status != http.StatusBadRequest || !strings.Contains(a.Errors[tc.field], tc.text) || len(a.Errors) != 1 {
				t.Fatalf("%d %q; want 400 and only a %s error containing %q", a.status, a.Errors, tc.field, tc.text)
			}
		})
	}
	a := postJSON(t, l, "/api/encode", with("user", "", "server", "gate-a"))
	if a.status != http.StatusOK || len(a.Sealed) != sealed.SizeIPv4 ||
		!slices.ContainsFunc(a.Notes, func(n string) bool { return strings.Contains(n, "the server is not used") }) {
		t.Errorf("server without a user: %d %v, %d bytes, notes %q", a.status, a.Errors, len(a.Sealed), a.Notes)
	}

	// A wrong length names both versions' lengths on the span.
	if a := postJSON(t, l, "/api/decode", map[string]any{"mode": "sealed", "key": sealedSample.Key, "span": "10000-14095",
		"user": "alice", "sequence": "10000 10001 10002"}); !strings.Contains(a.Errors["sequence"],
		"a sealed knock on this span has 11 (implicit address), 14 (IPv4) or 22 (IPv6) in version 1, and 12, 14 or 22 in version 2") {
		t.Errorf("wrong length: %d %v", a.status, a.Errors)
	}
	if a := postJSON(t, l, "/api/encode", with("timestamp", testClock.Unix()-61)); a.status != http.StatusOK ||
		!slices.ContainsFunc(a.Notes, func(n string) bool { return strings.Contains(n, "a daemon with a ±60s window refuses it") }) {
		t.Errorf("61 s old: %d %v, notes %q", a.status, a.Errors, a.Notes)
	}

	// A version 2 knock, opened by each name and key that could be wrong.
	enc := postJSON(t, l, "/api/encode", with("implicit", true, "ip", "198.51.100.9"))
	if enc.status != http.StatusOK || len(enc.Sealed) != sealed.SizeV2Implicit || enc.Values["hint"] == nil || enc.Values["user"] != "alice" {
		t.Fatalf("encode: %d %v, %d bytes, values %v", enc.status, enc.Errors, len(enc.Sealed), enc.Values)
	}
	dec := map[string]any{"mode": "sealed", "key": sealedSample.Key, "span": "40000-40255", "sequence": enc.Sequence,
		"user": "alice", "server": "gate-a", "source": "198.51.100.9"}
	if a := postJSON(t, l, "/api/decode", dec); a.status != http.StatusOK || a.Values["user"] != "alice" || a.Fields["user"] != "alice" || a.Fields["implicit"] != "on" {
		t.Fatalf("decode: %d %v, values %v, fields %v", a.status, a.Errors, a.Values, a.Fields)
	}
	other, _ := sealed.GenerateKey(&countingReader{})
	for name, change := range map[string][]any{
		"user": {"user", "Alice"}, "server": {"server", "gate-b"}, "default server": {"server", ""},
		"key": {"key", sealed.FormatKey(other)}, "source": {"source", "198.51.100.10"},
	} {
		a := postJSON(t, l, "/api/decode", withFields(dec, change...))
		if a.status != http.StatusBadRequest || !strings.HasPrefix(a.Errors["user"], "authentication failed: no key of this user and server opens it") {
			t.Errorf("wrong %s: %d %v", name, a.status, a.Errors)
		}
	}
}
