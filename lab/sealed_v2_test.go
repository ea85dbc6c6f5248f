package lab

import (
	"encoding/hex"
	"net/http"
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
