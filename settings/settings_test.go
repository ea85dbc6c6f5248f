package settings_test

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/settings"
)

func TestOriginalClientFileWorksUnchanged(t *testing.T) {
	s, err := settings.Load(settings.Client, []string{"-conf", "testdata/original-knockclient.conf"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.LegacyCodec()
	if err != nil {
		t.Fatal(err)
	}
	if s.Int("port") != 22 || s.Flags()[0] != 15 || s.Duration("timeout") != 500*time.Millisecond || s.String("remote") != "192.0.2.1" {
		t.Fatalf("port %d flags %v timeout %v remote %q", s.Int("port"), s.Flags(), s.Duration("timeout"), s.String("remote"))
	}
	if c.Cipher() != "Blowfish" || c.Span().String() != "745-1000" {
		t.Fatalf("codec %s %s", c.Cipher(), c.Span())
	}
	if got := s.Get("port").Origin; got != "testdata/original-knockclient.conf:4" {
		t.Fatalf("port origin %q", got)
	}
}

func TestCommandLineOverrides(t *testing.T) {
	s, err := settings.Load(settings.Client, []string{"-conf", "testdata/original-knockclient.conf",
		"-port", "23", "-test", "-notest", "-debug", "-debug", "-flag1=7", "-nologtofile", "--remote", "::1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Int("port") != 23 || s.Bool("test") || s.Int("debug") != 2 || s.Flags()[1] != 7 || s.String("remote") != "::1" {
		t.Fatalf("port %d test %v debug %d flags %v remote %q", s.Int("port"), s.Bool("test"), s.Int("debug"), s.Flags(), s.String("remote"))
	}
	if s.Get("port").Origin != "command line" {
		t.Fatalf("origin %q", s.Get("port").Origin)
	}
}

func TestDebugYesInAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.conf")
	os.WriteFile(path, []byte("debug = yes\n"), 0o600)
	s, err := settings.Load(settings.Client, []string{"-conf", path}, nil)
	if err != nil || s.Int("debug") != 1 {
		t.Fatalf("debug = yes: level %d, %v", s.Int("debug"), err)
	}
	s, _ = settings.Load(settings.Client, []string{"-conf", path, "-debug"}, nil)
	if s.Int("debug") != 1 {
		t.Fatalf("-debug over the file's yes: level %d, want 1 (the command line counts its own)", s.Int("debug"))
	}
}

func TestProfiles(t *testing.T) {
	s, err := settings.Load(settings.Client, []string{"-conf", "testdata/profiles.conf", "-profile", "work vpn"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.String("remote") != "2001:db8::10" || s.Int("port") != 1194 || s.String("protocol") != "udp" ||
		s.String("knock") != "CLIENT,PORT16,FLAG0,CHECKSUM" || s.Get("key").Text != "correct horse battery staple" {
		t.Fatalf("profile not applied over the top level: remote %q port %d knock %q", s.String("remote"), s.Int("port"), s.String("knock"))
	}
	if !slices.Contains(s.Ignore, "runmode") {
		t.Fatalf("the daemon's runmode should be ignored by the client, ignored: %v", s.Ignore)
	}
	_, err = settings.Load(settings.Client, []string{"-conf", "testdata/profiles.conf", "-profile", "office"}, nil)
	if err == nil || !strings.Contains(err.Error(), `no such profile; the file has "home", "work vpn"`) {
		t.Fatalf("unknown profile: %v", err)
	}
}

// TestBadFiles runs testdata/bad/*.conf against the messages in expect.txt.
func TestBadFiles(t *testing.T) {
	f, err := os.Open("testdata/bad/expect.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		name, want, _ := strings.Cut(sc.Text(), "\t")
		n++
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", name+".conf")
			_, err := settings.Load(settings.Client, []string{"-conf", path}, nil)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v\nwant one containing %q", err, want)
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Fatalf("error %q does not start with the file and line", err)
			}
		})
	}
	matches, _ := filepath.Glob("testdata/bad/*.conf")
	if n == 0 || n != len(matches) {
		t.Fatalf("expect.txt lists %d files, testdata/bad holds %d", n, len(matches))
	}
}

func TestArgErrors(t *testing.T) {
	for args, want := range map[string]string{
		"-prot 22":          "unknown option -prot (did you mean -port?)",
		"-port":             "-port needs a value",
		"-port x":           `-port "x": expected a whole number`,
		"-runmode file":     "-runmode is a setting of knockdaemon, not of knockclient",
		"192.0.2.1":         `unexpected argument "192.0.2.1"`,
		"-notest=yes":       "-notest takes no value",
		"-timeout -1s":      `"-1s" is negative`,
		"-conf /nonexisten": `-conf "/nonexisten"`,
	} {
		_, err := settings.Load(settings.Client, strings.Fields(args), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

func TestSearchPathFirstFound(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.conf"), filepath.Join(dir, "b.conf")
	os.WriteFile(b, []byte("port 2222\n"), 0o600)
	s, err := settings.Load(settings.Client, nil, []string{a, b})
	if err != nil || s.File != b || s.Int("port") != 2222 {
		t.Fatalf("file %q port %d err %v", s.File, s.Int("port"), err)
	}
	os.WriteFile(a, []byte("port 1111\n"), 0o600)
	s, _ = settings.Load(settings.Client, nil, []string{a, b})
	if s.File != a || s.Int("port") != 1111 {
		t.Fatalf("only the first file found is read: file %q port %d", s.File, s.Int("port"))
	}
}

func TestSemanticErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.conf")
	os.WriteFile(path, []byte("key k\nportspan 745-999\n"), 0o600)
	s, err := settings.Load(settings.Client, []string{"-conf", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.LegacyCodec()
	if err == nil || !strings.HasPrefix(err.Error(), path+":2: portspan: ") || !strings.Contains(err.Error(), "255 ports") {
		t.Fatalf("span error %v", err)
	}
	s, _ = settings.Load(settings.Client, []string{"-conf", path, "-portspan", "1-2", "-cipher", "rot13"}, nil)
	if _, err = s.LegacyCodec(); err == nil || !strings.HasPrefix(err.Error(), `-cipher "rot13": `) {
		t.Fatalf("cipher error %v", err)
	}
}

func TestListsAccumulate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.conf")
	os.WriteFile(path, []byte("protected tcp/22, tcp/443\nprotected udp/1194\n"), 0o600)
	s, err := settings.Load(settings.Daemon, []string{"-conf", path, "-protected", "tcp/8443"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.List("protected", true); !slices.Equal(got, []string{"tcp/22", "tcp/443", "udp/1194", "tcp/8443"}) {
		t.Fatalf("protected %v", got)
	}
}

// FuzzLoad: any file either loads or fails with an error that names the
// file; never a panic.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.conf")
	bad, _ := filepath.Glob("testdata/bad/*.conf")
	seeds = append(seeds, bad...)
	if len(seeds) == 0 {
		f.Fatal("no seed files")
	}
	for _, p := range seeds {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.conf")
		os.WriteFile(path, data, 0o600)
		s, err := settings.Load(settings.Daemon, []string{"-conf", path}, nil)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		s.LegacyConfig()
		s.Location()
	})
}

// TestRanges runs testdata/ranges.txt: every out-of-range number is
// refused with file:line, the value and the range, both in a file and on
// the command line.
func TestRanges(t *testing.T) {
	f, err := os.Open("testdata/ranges.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		if sc.Text() == "" || strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			t.Fatalf("testdata/ranges.txt: %q: expected program, line and error, tab separated", sc.Text())
		}
		n++
		prog := map[string]settings.Program{"client": settings.Client, "daemon": settings.Daemon}[fields[0]]
		line, want := fields[1], fields[2]
		t.Run(line, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.conf")
			if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			key, value, _ := strings.Cut(line, " = ")
			_, ferr := settings.Load(prog, []string{"-conf", path}, nil)
			_, aerr := settings.Load(prog, []string{"-" + key, value}, nil)
			if want == "ok" {
				if ferr != nil || aerr != nil {
					t.Fatalf("refused: %v; %v", ferr, aerr)
				}
				return
			}
			if ferr == nil || ferr.Error() != path+":1: "+want {
				t.Errorf("file: %v\nwant %s", ferr, path+":1: "+want)
			}
			_, msg, _ := strings.Cut(want, ": ")
			if aerr == nil || !strings.HasPrefix(aerr.Error(), "-"+key+" ") || !strings.HasSuffix(aerr.Error(), msg) {
				t.Errorf("command line: %v\nwant -%s ... %s", aerr, key, msg)
			}
		})
	}
	if n < 10 {
		t.Fatalf("testdata/ranges.txt holds %d cases", n)
	}
}

// TestEveryNumberHasARange: every Int, Seconds and Minutes parameter has
// a range, and its default lies in it.
func TestEveryNumberHasARange(t *testing.T) {
	for _, p := range append(settings.Params(settings.Both), mustLookup(t, "flag3")) {
		var v int64
		switch p.Kind {
		case settings.Int:
			if p.Default == "" {
				continue
			}
			n, err := strconv.ParseInt(p.Default, 10, 64)
			if err != nil {
				t.Fatalf("%s: default %q", p.Name, p.Default)
			}
			v = n
		case settings.Seconds, settings.Minutes:
			unit := time.Second
			if p.Kind == settings.Minutes {
				unit = time.Minute
			}
			d, err := settings.ParseDuration(p.Default, unit)
			if err != nil {
				t.Fatalf("%s: default %q", p.Name, p.Default)
			}
			v = int64(d)
		default:
			continue
		}
		if p.Max <= p.Min || p.Min < 0 {
			t.Errorf("%s: no range (%d to %d)", p.Name, p.Min, p.Max)
		}
		if p.Default != "" && (v < p.Min || v > p.Max) {
			t.Errorf("%s: default %q is outside %d to %d", p.Name, p.Default, p.Min, p.Max)
		}
	}
}

func mustLookup(t *testing.T, name string) settings.Param {
	p, ok := settings.Lookup(name)
	if !ok {
		t.Fatalf("no parameter %s", name)
	}
	return p
}

// TestEveryNameOnce: no parameter is defined twice (a merge once left the
// fleet's eight in the table twice, and Params listed them twice).
func TestEveryNameOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range settings.Params(settings.Both) {
		if seen[p.Name] {
			t.Errorf("parameter %q is defined more than once", p.Name)
		}
		seen[p.Name] = true
	}
}
