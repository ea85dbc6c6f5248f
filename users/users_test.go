package users

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/conffile"
	"github.com/portknock/knock/sealed"
)

var protected = []knock.Port{{Proto: knock.TCP, Port: 22}, {Proto: knock.TCP, Port: 8080}, {Proto: knock.UDP, Port: 1194}}

// keyFiles is a fake file system of key files: every name holds a valid
// key of mode 0600 but open.key (0644).
func keyFiles() Options {
	key := func(b byte) []byte {
		k, _ := sealed.NewKey(bytes.Repeat([]byte{b}, sealed.KeySize))
		return []byte(sealed.FormatKey(k) + "\n")
	}
	files := map[string][]byte{"alice.key": key(1), "alice-old.key": key(2), "bob.key": key(3), "open.key": key(4)}
	return Options{
		Protected: protected, Location: time.UTC,
		ReadFile: func(p string) ([]byte, error) {
			if b, ok := files[p]; ok {
				return b, nil
			}
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		},
		Stat: func(p string) (fs.FileMode, error) {
			if _, ok := files[p]; !ok {
				return 0, &fs.PathError{Op: "stat", Path: p, Err: errors.New("no such file or directory")}
			}
			if p == "open.key" {
				return 0o644, nil
			}
			return 0o600, nil
		},
	}
}

func parseFile(t testing.TB, path string) ([]User, error) {
	root, err := conffile.ParseFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(root.Blocks("user"), keyFiles())
}

// expectOf reads the "# expect: ..." first line of a test file.
func expectOf(t testing.TB, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	want, ok := strings.CutPrefix(sc.Text(), "# expect: ")
	if !ok {
		t.Fatalf("%s: no # expect: line", path)
	}
	return want
}

// TestFiles runs every file of testdata: most are refused, each with the
// error its first line expects, at the line of the fault.
func TestFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.conf")
	if len(files) < 10 {
		t.Fatalf("only %d test files", len(files))
	}
	for _, path := range files {
		want := expectOf(t, path)
		_, err := parseFile(t, path)
		if want == "ok" {
			if err != nil {
				t.Errorf("%s: %v", path, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", path, err, want)
			continue
		}
		if !strings.Contains(err.Error(), path+":") {
			t.Errorf("%s: error %q does not name the file and line", path, err)
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "staple") {
			t.Errorf("%s: the error quotes a key: %q", path, err)
		}
	}
}

func TestAdmit(t *testing.T) {
	us, err := parseFile(t, "testdata/good/two-users.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(us[0].SealedKeys) != 2 {
		t.Fatalf("alice holds %d keys, want 2 (rollover)", len(us[0].SealedKeys))
	}
	d, _ := NewDirectory(us)
	now := time.Date(2027, 1, 31, 23, 59, 0, 0, time.UTC)
	alice := netip.MustParseAddr("192.0.2.7")
	req := func(user string, port uint16, dur time.Duration) knock.Request {
		return knock.Request{Protocol: knock.Sealed, User: user, Port: port, Proto: knock.TCP, Duration: dur}
	}
	for _, tc := range []struct {
		name   string
		req    knock.Request
		src    string
		at     time.Time
		reason knock.Reason
	}{
		{"alice opens ssh", req("alice", 22, time.Hour), "192.0.2.7", now, ""},
		{"alice from IPv6", req("alice", 22, time.Hour), "2001:db8::5", now, ""},
		{"alice may not open 8080", req("alice", 8080, time.Hour), "192.0.2.7", now, knock.ReasonPort},
		{"alice from elsewhere", req("alice", 22, time.Hour), "198.51.100.1", now, knock.ReasonSource},
		{"alice after expiry", req("alice", 22, time.Hour), "192.0.2.7", now.Add(time.Minute), knock.ReasonExpired},
		{"bob opens 8080 from anywhere", req("bob", 8080, 0), "198.51.100.1", now, ""},
		{"bob may not open ssh", req("bob", 22, 0), "198.51.100.1", now, knock.ReasonPort},
		{"unknown user", req("carol", 22, 0), "192.0.2.7", now, knock.ReasonUser},
		{"fwknop stanzas are not ours", knock.Request{Protocol: knock.FWKNOP, User: "x@access.conf:1", Port: 22}, "198.51.100.1", now, ""},
	} {
		got, err := d.Admit(tc.req, netip.MustParseAddr(tc.src), tc.at)
		if r := knock.ReasonOf(err); r != tc.reason {
			t.Errorf("%s: reason %q (%v), want %q", tc.name, r, err, tc.reason)
		}
		if tc.name == "alice opens ssh" && got.Limit != 24*time.Hour {
			t.Errorf("alice's limit %v, want her maxduration 24h", got.Limit)
		}
	}
	_ = alice
	us[1].Disabled = true
	if _, err := d.Admit(req("bob", 8080, 0), netip.MustParseAddr("198.51.100.1"), now); knock.ReasonOf(err) != knock.ReasonUser {
		t.Errorf("a disabled user was admitted: %v", err)
	}
}

// Fuzz the user blocks as a configuration file holds them: any text is
// either refused with a position or gives users with valid names.
func FuzzUserBlocks(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.conf")
	if len(files) == 0 {
		f.Fatal("no seeds in testdata")
	}
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	o := keyFiles()
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := conffile.Parse("fuzz.conf", data)
		if err != nil {
			return
		}
		us, err := Parse(root.Blocks("user"), o)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.conf") {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		for _, u := range us {
			if checkName(u.Name) != nil || (len(u.SealedKeys) == 0 && u.LegacyKey == "") || len(u.SealedKeys) > MaxKeys {
				t.Fatalf("accepted a user that breaks the rules: %+v", u)
			}
		}
	})
}
