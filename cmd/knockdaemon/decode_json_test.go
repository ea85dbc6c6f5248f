package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/portknock/knock"
	"github.com/portknock/knock/client"
	"github.com/portknock/knock/legacy"
)

// TestDecodeJSONShape: -decode prints knock.Decoded, the shape of
// knockclient -decode: the same values, valid and reason for the same
// sequence, plus the daemon's verdict.
func TestDecodeJSONShape(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.conf")
	os.WriteFile(path, []byte("key knock\nportspan 745-1000\nreplay no\n"), 0o600)
	codec, err := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seq  string
		want string
	}{
		{"966 914 795 964 831 862 807 932",
			`{"values":{"checksum":233,"client":"142.103.205.1","flag0":15,"port":22},"valid":true,"verdict":"open tcp/22 to 142.103.205.1 for 15m0s"}`},
		{"966 914 795 964 831 862 807 931",
			`{"valid":false,"verdict":"refuse","reason":"decrypt","why":"decrypt: decryption failed: bad padding after decryption (wrong key or damaged knock)"}`},
	} {
		var out, errb bytes.Buffer
		run([]string{"-conf", path, "-decode", tc.seq}, &out, &errb)
		if got := string(bytes.TrimSpace(out.Bytes())); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.seq, got, tc.want)
			continue
		}
		var daemon, clnt knock.Decoded
		if err := json.Unmarshal(out.Bytes(), &daemon); err != nil {
			t.Fatal(err)
		}
		ports, _ := client.ParseSequence(tc.seq)
		res, _ := client.DecodeLegacy(codec, ports)
		b, _ := json.Marshal(res)
		if err := json.Unmarshal(b, &clnt); err != nil {
			t.Fatal(err)
		}
		if daemon.Valid != clnt.Valid || daemon.Reason != clnt.Reason || len(daemon.Values) != len(clnt.Values) {
			t.Errorf("%s: daemon %s, client %s", tc.seq, out.Bytes(), b)
		}
		for _, v := range clnt.Values {
			if got := daemon.Values.Get(v.Name); got != v.Value {
				t.Errorf("%s: %s is %v for the daemon, %v for the client", tc.seq, v.Name, got, v.Value)
			}
		}
	}
}

// TestHelpSpelledLong: --help and -help print the usage, as -h does, and
// read no configuration.
func TestHelpSpelledLong(t *testing.T) {
	for _, a := range []string{"--help", "-help", "-h"} {
		var out, errb bytes.Buffer
		if code := run([]string{"-conf", "/nonexistent.conf", a}, &out, &errb); code != exitOK || !bytes.Contains(out.Bytes(), []byte("knockdaemon")) || errb.Len() != 0 {
			t.Errorf("%s: exit %d, out %q, err %q", a, code, out.String(), errb.String())
		}
	}
}
