package proc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func read(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseStat(t *testing.T) {
	s, err := ParseStat(read(t, "stat-parens"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stat{Utime: 250, Stime: 75, Cutime: 10, Cstime: 5}); s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	if s.CPU() != 3400*time.Millisecond || s.Own() != 3250*time.Millisecond {
		t.Errorf("CPU %s, own %s", s.CPU(), s.Own())
	}
	if _, err := ParseStat(read(t, "stat-cat")); err != nil {
		t.Errorf("a real stat line: %v", err)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 1 1 1"} {
		if _, err := ParseStat([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseStat(%q) = %v, want ErrFormat", bad, err)
		}
	}
}

func TestParseStatus(t *testing.T) {
	s, err := ParseStatus(read(t, "status-cat"))
	if err != nil {
		t.Fatal(err)
	}
	if s.VmHWM == 0 || s.VmRSS == 0 || s.VmRSS > s.VmHWM {
		t.Errorf("implausible %+v", s)
	}
	for _, bad := range [][]byte{read(t, "status-badunit"), []byte("VmHWM:\t3 kB\n"), nil} {
		if _, err := ParseStatus(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseStatus(%q) = %v, want ErrFormat", bad, err)
		}
	}
}

func TestParseLoadavg(t *testing.T) {
	l, err := ParseLoadavg(read(t, "loadavg"))
	if err != nil || l != [3]float64{8.67, 12.86, 10.71} {
		t.Errorf("got %v, %v", l, err)
	}
	if _, err := ParseLoadavg([]byte("1 x 2")); !errors.Is(err, ErrFormat) {
		t.Errorf("bad loadavg: %v", err)
	}
}

func TestReadSelf(t *testing.T) {
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.VmHWM == 0 {
		t.Errorf("no peak memory for the test itself: %+v", s)
	}
}

func seeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/")
	}
	for _, p := range files {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			f.Add(read(f, filepath.Base(p)))
		}
	}
}

func FuzzParse(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := ParseStat(b); err == nil && s.CPU() < 0 {
			t.Errorf("negative CPU time from %q", b)
		}
		ParseStatus(b)
		if l, err := ParseLoadavg(b); err == nil && (l[0] < 0 || l[1] < 0 || l[2] < 0) {
			t.Errorf("negative load from %q", b)
		}
	})
}
