package fko

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TestKeyIV checks the key derivation against OpenSSL's own:
//
//	openssl enc -aes-256-cbc -md md5 -P -S 73616c7473616c74 -pass pass:secret
//	openssl enc -aes-256-cbc -md md5 -P -S 73616c7473616c74 -pass pass:secret0000000000
//
// the second being what legacy mode makes of the key "secret".
func TestKeyIV(t *testing.T) {
	for _, c := range []struct {
		key     string
		mode    Mode
		wantKey string
		wantIV  string
	}{
		{"secret", CBC, "5407d0ea70a46b0f68deefb1ef4eb09d13093292d2ae34cd7b877ada904151a1", "5327575205fd50126cc42b6ecde1f019"},
		{"secret", Legacy, "68cbb7faa39eb1c1d47303d442f8e0d3058b431073c7472598622fde764e07a6", "a7894347e62c53d324157fccc999dc04"},
		{"secret0000000000 and more", Legacy, "68cbb7faa39eb1c1d47303d442f8e0d3058b431073c7472598622fde764e07a6", "a7894347e62c53d324157fccc999dc04"},
	} {
		k, iv := KeyIV(PassPhrase([]byte(c.key), c.mode), []byte("saltsalt"))
		if hex.EncodeToString(k) != c.wantKey || hex.EncodeToString(iv) != c.wantIV {
			t.Errorf("%q %v: key %x iv %x", c.key, c.mode, k, iv)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	m := Message{Random: "0123456789012345", User: "alice", Timestamp: 1767225600, Version: Version,
		Type: AccessMsg, Access: "192.0.2.1,tcp/22", ClientTimeout: 60}
	for _, d := range Digests {
		m.Digest = d
		pt := Encode(m)
		text := Seal(SHA512, []byte("h"), Encrypt(pt, []byte("k"), CBC, []byte("saltsalt")))
		body, ok := Verify(SHA512, []byte("h"), text)
		if !ok || strings.HasPrefix(text, SaltedPrefix) {
			t.Fatalf("%v: verify %v, text %q", d, ok, text)
		}
		got, err := Decrypt(body, []byte("k"), CBC)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(got)
		want := m
		want.Type = ClientTimeoutAccessMsg
		if err != nil || back != want {
			t.Fatalf("%v: %+v, %v; want %+v", d, back, err, want)
		}
	}
}
