package fleet

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	for _, c := range []struct {
		url, want, err string
	}{
		{"redis://10.0.0.5:6379/0", "addrs=[10.0.0.5:6379] db=0 master= cluster=false tls=false", ""},
		{"redis://redis.example", "addrs=[redis.example:6379] db=0 master= cluster=false tls=false", ""},
		{"rediss://redis.example:6380/2", "addrs=[redis.example:6380] db=2 master= cluster=false tls=true", ""},
		{"redis://[fd00::5]:6379", "addrs=[[fd00::5]:6379] db=0 master= cluster=false tls=false", ""},
		{"redis-sentinel://s1:26379,s2,s3:26380/1?master=knock", "addrs=[s1:26379 s2:26379 s3:26380] db=1 master=knock cluster=false tls=false", ""},
		{"rediss-sentinel://s1,s2/0?master=knock", "addrs=[s1:26379 s2:26379] db=0 master=knock cluster=false tls=true", ""},
		{"redis-cluster://n1:7000,n2:7001,n3", "addrs=[n1:7000 n2:7001 n3:6379] db=0 master= cluster=true tls=false", ""},
		{"redis://gate:secret@10.0.0.5:6379/0", "", "carries credentials"},
		{"redis://:secret@10.0.0.5", "", "carries credentials"},
		{"redis-sentinel://s1,s2/0", "", "needs ?master=NAME"},
		{"redis://a,b", "", "several hosts"},
		{"redis://a/x", "", `database "x"`},
		{"redis-cluster://a,b/3", "", "only database 0"},
		{"redis://a?master=x", "", `unknown parameter "master"`},
		{"redis-sentinel://a?master=x&db=1", "", `unknown parameter "db"`},
		{"http://a", "", "want scheme redis"},
		{"valkey://a", "", "want scheme redis"},
		{"redis://", "", "empty host"},
	} {
		o, err := ParseURL(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseURL(%q) = %v, want error containing %q", c.url, err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseURL(%q): the error quotes the password: %v", c.url, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q): %v", c.url, err)
			continue
		}
		got := fmt.Sprintf("addrs=%v db=%d master=%s cluster=%v tls=%v", o.Addrs, o.DB, o.MasterName, o.IsClusterMode, o.TLSConfig != nil)
		if got != c.want {
			t.Errorf("ParseURL(%q)\n got %s\nwant %s", c.url, got, c.want)
		}
	}
}

func writeFile(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadCredentials(t *testing.T) {
	p := writeFile(t, "# gate a\nuser gate-a\npassword  s3cret word\n\nsentinel-password sent\n", 0o600)
	c, err := ReadCredentials(p)
	want := Credentials{User: "gate-a", Password: "s3cret word", SentinelPassword: "sent"}
	if err != nil || c != want {
		t.Fatalf("ReadCredentials = %+v, %v; want %+v", c, err, want)
	}
	for _, bad := range []struct{ text, err string }{
		{"user a\n", "no password line"},
		{"password\n", ":1: password needs a value"},
		{"user a\npasword x\n", `:2: unknown setting "pasword"`},
		{"password x\npassword y\n", ":2: password given twice"},
	} {
		_, err := ReadCredentials(writeFile(t, bad.text, 0o600))
		if err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("credentials %q: %v, want error containing %q", bad.text, err, bad.err)
		}
	}
}

func TestSecretFilesReadableByOthersRefused(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o666} {
		p := writeFile(t, "password hunter2\n", mode)
		_, err := ReadCredentials(p)
		want := fmt.Sprintf("has mode %04o, readable by others: want 0600", mode)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("credentials of mode %04o: %v, want %q", mode, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error quotes the password: %v", err)
		}
		if _, err := ReadKey(writeFile(t, strings.Repeat("ab", 32), mode)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("key of mode %04o: %v, want %q", mode, err, want)
		}
	}
	if _, err := ReadKey(writeFile(t, strings.Repeat("ab", 32)+"\n", 0o400)); err != nil {
		t.Errorf("key of mode 0400: %v", err)
	}
}

func TestReadKey(t *testing.T) {
	k, err := ReadKey(writeFile(t, strings.Repeat("0f", 32)+"\n", 0o600))
	if err != nil || !slices.Equal(k, []byte(strings.Repeat("\x0f", 32))) {
		t.Fatalf("ReadKey = %x, %v", k, err)
	}
	for _, bad := range []string{"", strings.Repeat("0f", 31), strings.Repeat("0f", 33), strings.Repeat("zz", 32)} {
		_, err := ReadKey(writeFile(t, bad, 0o600))
		if err == nil || !strings.Contains(err.Error(), "want one line of 64 hex digits") {
			t.Errorf("key %q: %v", bad, err)
		}
		if err != nil && bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("the error quotes the key: %v", err)
		}
	}
}

func TestConfigChecked(t *testing.T) {
	ok := Config{URL: "redis://127.0.0.1", Fleet: "prod", Gate: "gate-1", Group: "edge", Key: testKey}
	for _, c := range []struct {
		edit func(*Config)
		err  string
	}{
		{func(c *Config) { c.Fleet = "a:b" }, `fleet name "a:b"`},
		{func(c *Config) { c.Group = "{x}" }, `group name "{x}"`},
		{func(c *Config) { c.Gate = "" }, `gate name ""`},
		{func(c *Config) { c.Key = c.Key[:16] }, "fleet key of 16 bytes"},
		{func(c *Config) { c.Replicas = -1 }, "replicas -1"},
		{func(c *Config) { c.URL = "redis://u:p@h" }, "carries credentials"},
		{func(c *Config) { c.URL, c.Replicas = "redis-cluster://a,b", 1 }, "not supported across a cluster"},
	} {
		cfg := ok
		c.edit(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("New: %v, want error containing %q", err, c.err)
		}
	}
	if f, err := New(ok); err != nil {
		t.Errorf("New(%+v): %v", ok, err)
	} else {
		f.Close()
	}
	for _, s := range []string{"refuse", "local"} {
		if m, err := ParseMode(s); err != nil || m.String() != s {
			t.Errorf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseMode("open"); err == nil || !strings.Contains(err.Error(), `"open"`) {
		t.Errorf("ParseMode(open): %v", err)
	}
}

// FuzzCredentials: the credentials parser takes any bytes without panic,
// and never puts a password into an error.
func FuzzCredentials(f *testing.F) {
	for _, s := range []string{"user a\npassword b\n", "password x\npassword y\n", "# c\n\nsentinel-user s\nsentinel-password t\npassword p", "pasword z"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCredentials("creds", b)
		if err == nil && c.Password == "" {
			t.Fatal("accepted credentials without a password")
		}
	})
}

func TestPruneForgetsWhatEnded(t *testing.T) {
	now := vecNow
	f, err := New(Config{URL: "redis://127.0.0.1:1", Fleet: "prod", Gate: "g", Group: "edge", Key: testKey, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ended, running := now.Add(-time.Second), now.Add(time.Minute)
	f.applied["a"], f.applied["b"] = Grant{Until: ended}, Grant{Until: running}
	f.issued["a"], f.issued["b"] = &issued{g: Grant{Until: ended}}, &issued{g: Grant{Until: running}}
	f.revoked["a"], f.revoked["b"] = message{until: ended}, message{until: running}
	f.local[[32]byte{1}], f.local[[32]byte{2}] = ended.UnixMilli(), running.UnixMilli()
	f.prune(now)
	if len(f.applied) != 1 || len(f.issued) != 1 || len(f.revoked) != 1 || len(f.local) != 1 {
		t.Errorf("after prune: %d applied, %d issued, %d revoked, %d claims; want one each",
			len(f.applied), len(f.issued), len(f.revoked), len(f.local))
	}
}

func TestRevokeNamesOneThing(t *testing.T) {
	f, err := New(Config{URL: "redis://127.0.0.1:1", Fleet: "prod", Gate: "g", Group: "edge", Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, sel := range []Selector{{}, {User: "x", Addr: netip.MustParseAddr("192.0.2.1")}} {
		if _, err := f.Revoke(context.Background(), sel); err == nil {
			t.Errorf("Revoke(%+v) accepted", sel)
		}
	}
}
