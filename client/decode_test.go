package client_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portknock/knock/client"
	"github.com/portknock/knock/legacy"
)

func TestDecodeLegacy(t *testing.T) {
	for _, tc := range []struct {
		args []string
		seq  string
		want string // the JSON printed: knock.Decoded
		err  string // "" for success
	}{
		{[]string{"-conf", "testdata/knockclient.conf"}, "966 914 795 964 831 862 807 932",
			`{"values":{"client":"142.103.205.1","port":22,"flag0":15,"checksum":233},"valid":true}`, ""},
		{[]string{"-conf", "testdata/knockclient.conf"}, "966,914,795,964,831,862,807,931",
			`{"valid":false,"reason":"decrypt","why":"decryption failed: bad padding after decryption (wrong key or damaged knock)"}`, "(decrypt)"},
		{[]string{"-conf", "testdata/knockclient.conf"}, "966 914 795 964 831 862 807",
			`{"valid":false,"reason":"length","why":"wrong knock length: 7 ports; a knock here has 8, 17, 18, 19, 20, 21, 22, 23 or 24"}`, "(length): wrong knock length: 7 ports"},
		{[]string{"-conf", "testdata/knockclient.conf"}, "966 914 795 964 831 862 807 1001",
			`{"valid":false,"reason":"span","why":"port outside the span: port 1001 (knock 8 of 8) is not in \"745-1000\""}`, "(span)"},
		{[]string{"-conf", "testdata/knockclient.conf"}, "966 914 x", "", `"x" (word 3) is not a port number`},
		{[]string{"-conf", "testdata/knockclient.conf", "-knock", "CHECKSUM,FLAG1,FLAG0,CLIENT", "-noencrypt"}, "873 845 760 755 746 746 746",
			`{"values":{"checksum":128,"flag1":100,"flag0":15,"client":"10.1.1.1"},"valid":true}`, ""},
		{[]string{"-conf", "testdata/knockclient.conf", "-knock", "CLIENT,PORT,FLAG0,CHECKSUM,CHECKSUM", "-noencrypt"}, "755 746 746 746 767 760 795 795",
			`{"values":{"client":"10.1.1.1","port":22,"flag0":15,"checksum":50},"valid":true}`, ""},
		{[]string{"-conf", "testdata/knockclient.conf", "-knock", "CLIENT,PORT,FLAG0,CHECKSUM", "-noencrypt"}, "755 746 746 746 767 760 796",
			`{"values":{"client":"10.1.1.1","port":22,"flag0":15,"checksum":51},"valid":false,"reason":"checksum","why":"checksum mismatch: the fields sum to 50 mod 255, the knock says 51"}`, "(checksum): checksum mismatch"},
	} {
		r := newRig(t, append(tc.args, "-decode", tc.seq)...)
		err := r.run(t)
		if got := strings.TrimSpace(r.stdout.String()); got != tc.want {
			t.Errorf("%v %q:\n got %s\nwant %s", tc.args, tc.seq, got, tc.want)
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.seq, err)
		case tc.err != "" && (!errors.Is(err, client.ErrUndecodable) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: %v, want ErrUndecodable containing %q", tc.seq, err, tc.err)
		}
	}
}

// TestTestThenDecode: what -test prints, -decode reads back, for every
// field the format knows.
func TestTestThenDecode(t *testing.T) {
	args := []string{"-conf", "testdata/knockclient.conf", "-knock", "CLIENT,PORT16,FLAG0,RAND,THISYEAR,THISDAY,THISHOUR,THISMINUTE,THISSECOND,CHECKSUM",
		"-port", "8443", "-iv", "-cipher", "Rijndael", "-portspan", "1024-5000,6000-25000,26000-35789", "-timezone", "UTC"}
	r := newRig(t, append(args, "-test")...)
	if err := r.run(t); err != nil {
		t.Fatal(err)
	}
	d := newRig(t, append(args, "-decode", r.stdout.String())...)
	if err := d.run(t); err != nil {
		t.Fatal(err)
	}
	var dec struct {
		Values map[string]any
		Valid  bool
	}
	if err := json.Unmarshal(d.stdout.Bytes(), &dec); err != nil || !dec.Valid {
		t.Fatalf("%s: %v", d.stdout.String(), err)
	}
	got := dec.Values
	for k, v := range map[string]any{"client": "142.103.205.1", "port16": 8443.0, "flag0": 15.0, "rand": 1.0, "thisyear": 234.0,
		"thisday": 60.0, "thishour": 36.0, "thisminute": 208.0, "thissecond": float64(start.Unix() % 256)} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func readSeeds(tb testing.TB) map[string]string {
	paths, _ := filepath.Glob("testdata/sequences/*.txt")
	if len(paths) == 0 {
		tb.Fatal("no seeds in testdata/sequences")
	}
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(p)] = string(b)
	}
	return out
}

func TestParseSequence(t *testing.T) {
	seeds := readSeeds(t)
	for _, name := range []string{"v1.txt", "v1-commas.txt", "v1-mixed.txt"} {
		got, err := client.ParseSequence(seeds[name])
		if err != nil || !slices.Equal(got, v1) {
			t.Errorf("%s: %v, %v", name, got, err)
		}
	}
	for name, want := range map[string]string{
		"empty.txt":        "no ports",
		"bad-word.txt":     `"x" (word 3) is not a port number`,
		"out-of-range.txt": `"65536" (word 2) is outside 0-65535`,
		"signs.txt":        `"-1" (word 1) is not a port number`,
	} {
		if _, err := client.ParseSequence(seeds[name]); !errors.Is(err, client.ErrUndecodable) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}

// FuzzDecodeArgument: any -decode text either fails to parse, or parses
// to ports that print and parse back the same; decoding them with V1's
// codec never panics and gives JSON whenever it gives fields.
func FuzzDecodeArgument(f *testing.F) {
	for _, s := range readSeeds(f) {
		f.Add(s)
	}
	codec, err := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ports, err := client.ParseSequence(text)
		if err != nil {
			if !errors.Is(err, client.ErrUndecodable) {
				t.Fatalf("error %v is not ErrUndecodable", err)
			}
			return
		}
		again, err := client.ParseSequence(client.FormatSequence(ports))
		if err != nil || !slices.Equal(again, ports) {
			t.Fatalf("%v printed and parsed gives %v, %v", ports, again, err)
		}
		res, err := client.DecodeLegacy(codec, ports)
		if err != nil && !errors.Is(err, client.ErrUndecodable) {
			t.Fatalf("decode error %v is not ErrUndecodable", err)
		}
		if !json.Valid(must(json.Marshal(res))) {
			t.Fatalf("invalid JSON for %v", res)
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
