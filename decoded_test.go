package knock_test

import (
	"encoding/json"
	"testing"

	"github.com/portknock/knock"
)

// TestDecodedJSON: values keep the knock's order both ways; verdict,
// reason and why are left out when empty, valid never.
func TestDecodedJSON(t *testing.T) {
	for _, tc := range []struct {
		d    knock.Decoded
		want string
	}{
		{knock.Decoded{Values: knock.Values{{Name: "port", Value: 22}, {Name: "client", Value: "192.0.2.7"}}, Valid: true, Verdict: "open tcp/22 to 192.0.2.7 for 5m0s"},
			`{"values":{"port":22,"client":"192.0.2.7"},"valid":true,"verdict":"open tcp/22 to 192.0.2.7 for 5m0s"}`},
		{knock.Decoded{Reason: knock.ReasonLength, Why: "wrong knock length: 3 ports"},
			`{"valid":false,"reason":"length","why":"wrong knock length: 3 ports"}`},
		{knock.Decoded{Values: knock.Values{}, Verdict: knock.VerdictRefuse, Reason: knock.ReasonAuth},
			`{"valid":false,"verdict":"refuse","reason":"auth"}`},
	} {
		b, err := json.Marshal(tc.d)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s, %v\nwant %s", b, err, tc.want)
			continue
		}
		var back knock.Decoded
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		if string(again) != tc.want {
			t.Errorf("round trip: %s, want %s", again, tc.want)
		}
	}
	var d knock.Decoded
	for _, bad := range []string{`{"values":[1,2]}`, `{"values":"x"}`, `{"values":{"a":}}`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// FuzzDecodedJSON: reading any JSON as a Decoded never panics, and what
// it reads writes back as JSON that reads the same.
func FuzzDecodedJSON(f *testing.F) {
	for _, s := range []string{
		`{"values":{"port":22,"client":"192.0.2.7"},"valid":true,"verdict":"open tcp/22 to 192.0.2.7 for 5m0s"}`,
		`{"valid":false,"reason":"length","why":"wrong knock length: 3 ports"}`,
		`{"values":{"a":{"b":[1,2]}},"valid":false}`, `{"values":[1,2]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d knock.Decoded
		if json.Unmarshal(b, &d) != nil {
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var back knock.Decoded
		if err := json.Unmarshal(out, &back); err != nil || len(back.Values) != len(d.Values) {
			t.Fatalf("%s -> %s: %v", b, out, err)
		}
	})
}
