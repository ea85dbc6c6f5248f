package fwknop_test

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/fwknop"
)

// privateCopy copies testdata/access to a temporary folder with the
// modes an operator gives access.conf (0600), since git keeps 0644.
func privateCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir("testdata/access", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/access", path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestAccessFiles reads every testdata/access/*.conf; its first line says
// "# want: ok N" (N stanzas) or "# want: error TEXT" (the error holds
// TEXT, file:line included).
func TestAccessFiles(t *testing.T) {
	dir := privateCopy(t)
	names, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	if len(names) == 0 {
		t.Fatal("no testdata/access/*.conf")
	}
	for _, path := range names {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".conf"), func(t *testing.T) {
			want := firstLine(t, path)
			st, err := fwknop.ReadAccess(path)
			switch {
			case strings.HasPrefix(want, "ok "):
				if err != nil {
					t.Fatal(err)
				}
				if n, _ := strconv.Atoi(want[3:]); len(st) != n {
					t.Fatalf("%d stanzas, want %d", len(st), n)
				}
			case strings.HasPrefix(want, "error "):
				if err == nil {
					t.Fatalf("no error, want %q", want[6:])
				}
				if msg := strings.ReplaceAll(err.Error(), dir+"/", ""); !strings.Contains(msg, want[6:]) {
					t.Fatalf("error %q\nwant it to hold %q", msg, want[6:])
				}
				for _, secret := range []string{"k1", "h1", "0123456789abcdef", "not*base64"} {
					if strings.Contains(err.Error(), " "+secret) || strings.Contains(err.Error(), `"`+secret) {
						t.Fatalf("the error quotes a key: %v", err)
					}
				}
			default:
				t.Fatalf("first line %q: expected \"# want: ok N\" or \"# want: error TEXT\"", want)
			}
		})
	}
}

func firstLine(t *testing.T, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	return strings.TrimPrefix(sc.Text(), "# want: ")
}

func TestAccessValues(t *testing.T) {
	dir := privateCopy(t)
	path := filepath.Join(dir, "good-everything.conf")
	st, err := fwknop.ReadAccess(path)
	if err != nil {
		t.Fatal(err)
	}
	s := st[0]
	want := fwknop.Stanza{
		Pos: s.Pos,
		Sources: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.7/32"),
			netip.MustParsePrefix("203.0.113.0/25"), netip.MustParsePrefix("2001:db8::/32"),
		},
		Destinations:  []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
		OpenPorts:     []knock.Port{{Proto: "tcp", Port: 22}, {Proto: "udp", Port: 53}},
		RestrictPorts: []knock.Port{{Proto: "tcp", Port: 23}},
		Key:           []byte("a text key"),
		HMACKey:       []byte("another text key"),
		Mode:          fwknop.CBC,
		HMACDigest:    fwknop.SHA3_512,
		AccessTimeout: 45 * time.Second,
		MaxTimeout:    600 * time.Second,
		RequireUser:   "alice",
		RequireSource: true,
		Expire:        time.Date(2030, 12, 31, 0, 0, 0, 0, time.Local),
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("stanza 1:\n got %+v\nwant %+v", fields(s), fields(want))
	}
	if got := s.Pos.String(); got != path+":2" {
		t.Errorf("position %q, want %q", got, path+":2")
	}
	l := st[1]
	if l.Mode != fwknop.Legacy || l.HMACKey != nil || l.RequireSource || !l.Expire.Equal(time.Unix(1900000000, 0)) ||
		l.AccessTimeout != fwknop.DefaultAccessTimeout || l.MaxTimeout != fwknop.DefaultMaxTimeout {
		t.Errorf("stanza 2: %+v", fields(l))
	}
	if st[2].HMACDigest != fwknop.SHA256 || len(st[2].Key) != 32 || len(st[2].HMACKey) != 64 {
		t.Errorf("stanza 3: %+v", fields(st[2]))
	}
}

// fields shows a stanza for a failing test, keys included.
func fields(s fwknop.Stanza) string {
	type plain fwknop.Stanza // without String, which hides the keys
	return fmt.Sprintf("%+v", plain(s))
}
