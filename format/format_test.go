package format_test

import (
	"bufio"
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/format"
)

func readTable(t testing.TB) [][2]string {
	f, err := os.Open("testdata/formats.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		a, b, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		rows = append(rows, [2]string{a, b})
	}
	if len(rows) == 0 {
		t.Fatal("no formats in testdata/formats.txt")
	}
	return rows
}

func TestParse(t *testing.T) {
	for _, row := range readTable(t) {
		verdict, want, _ := strings.Cut(row[1], " ")
		f, err := format.Parse(row[0])
		if verdict == "ok" {
			n, _ := strconv.Atoi(want)
			if err != nil || f.Len() != n {
				t.Errorf("Parse(%q) = %v (%d bytes), %v; want %d bytes", row[0], f, f.Len(), err, n)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error %v, want one containing %q", row[0], err, want)
		}
	}
}

func TestPackUnpack(t *testing.T) {
	f := format.MustParse("CLIENT,PORT16,FLAG3,RAND,THISMINUTE,CHECKSUM,CHECKSUM")
	v := format.Values{
		Client: netip.MustParseAddr("203.0.113.9"),
		Port:   8443,
		Flags:  map[int]int{3: 300}, // taken mod 256: 44
		Rand:   7,
		Time:   format.Times{Minute: 200},
	}
	b, err := f.Pack(v)
	if err != nil {
		t.Fatal(err)
	}
	sum := (203 + 0 + 113 + 9 + 0x20 + 0xfb + 44 + 7 + 200) % 255
	want := []byte{203, 0, 113, 9, 0x20, 0xfb, 44, 7, 200, byte(sum), byte(sum)}
	if string(b) != string(want) {
		t.Fatalf("Pack = %v, want %v", b, want)
	}
	got, err := f.Unpack(b)
	if err != nil || got.Client != v.Client || got.Port != 8443 || got.Flag(3) != 44 || got.Rand != 7 || got.Time.Minute != 200 || got.Checksum != sum {
		t.Fatalf("Unpack = %+v, %v", got, err)
	}
	b[len(b)-1]++
	if _, err := f.Unpack(b); !errors.Is(err, format.ErrChecksum) {
		t.Fatalf("second checksum changed: %v, want ErrChecksum", err)
	}
	if _, err := f.Unpack(b[:3]); !errors.Is(err, format.ErrLength) {
		t.Fatalf("short: %v, want ErrLength", err)
	}
}

func TestPackErrors(t *testing.T) {
	for _, tc := range []struct {
		format string
		v      format.Values
		want   string
	}{
		{"CLIENT", format.Values{}, "no client address"},
		{"CLIENT", format.Values{Client: netip.MustParseAddr("2001:db8::1")}, "is IPv6"},
		{"PORT", format.Values{Port: 256}, "write PORT16"},
		{"PORT", format.Values{Port: -1}, "does not fit"},
		{"PORT16", format.Values{Port: 65536}, "outside 0-65535"},
		{"FLAG2", format.Values{Flags: map[int]int{0: 1}}, "flag2 is not set"},
	} {
		_, err := format.MustParse(tc.format).Pack(tc.v)
		if !errors.Is(err, format.ErrValue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: %v, want ErrValue containing %q", tc.format, tc.v, err, tc.want)
		}
	}
	// IPv4-mapped IPv6 is IPv4.
	if _, err := format.MustParse("CLIENT").Pack(format.Values{Client: netip.MustParseAddr("::ffff:10.1.1.1")}); err != nil {
		t.Errorf("mapped address: %v", err)
	}
}

func TestStamp(t *testing.T) {
	// 2004-07-05 13:47:09 UTC, the date of the prototype's v0.24.
	tm := time.Date(2004, 7, 5, 13, 47, 9, 0, time.UTC)
	got := format.Stamp(tm)
	want := format.Times{
		Year:   2004 % 256,
		Day:    187 % 256, // 31+29+31+30+31+30+5, a leap year
		Hour:   (24*5 + 13) % 256,
		Minute: (60*13 + 47) % 256,
		Second: int(tm.Unix() % 256),
	}
	if got != want {
		t.Fatalf("Stamp = %+v, want %+v", got, want)
	}
}

func TestFresh(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	f := format.MustParse("THISDAY,THISMINUTE,CHECKSUM")
	at := func(d time.Duration) format.Values { return format.Values{Time: format.Stamp(now.Add(d))} }
	for _, tc := range []struct {
		offset time.Duration
		want   bool
	}{
		{0, true}, {-4 * time.Minute, true}, {4 * time.Minute, true},
		{-7 * time.Minute, false}, {7 * time.Minute, false}, {-24 * time.Hour, false},
	} {
		if got := f.Fresh(at(tc.offset), now, 5*time.Minute); got != tc.want {
			t.Errorf("knock made %v from now: Fresh = %v, want %v", tc.offset, got, tc.want)
		}
	}
	if !format.MustParse("CLIENT").Fresh(format.Values{}, now, 0) {
		t.Error("a format without time fields must always be fresh")
	}
	// Across midnight: a knock stamped 23:59 is fresh at 00:01 the next day.
	mid := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
	f2 := format.MustParse("THISYEAR,THISDAY,THISHOUR,THISMINUTE")
	if !f2.Fresh(format.Values{Time: format.Stamp(mid)}, mid.Add(2*time.Minute), 5*time.Minute) {
		t.Error("a knock from just before the new year is not fresh just after it")
	}
}

// FuzzParse: every format string either fails with a clear error or
// parses to a format whose canonical form parses to the same format.
func FuzzParse(f *testing.F) {
	for _, row := range readTable(f) {
		f.Add(row[0])
	}
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := format.Parse(s)
		if err != nil {
			if !strings.Contains(err.Error(), "format") {
				t.Fatalf("error %q does not say it is about the knock format", err)
			}
			return
		}
		again, err := format.Parse(fm.String())
		if err != nil || again.String() != fm.String() || again.Len() != fm.Len() {
			t.Fatalf("%q -> %q -> %q, %v", s, fm, again, err)
		}
	})
}

// FuzzUnpack: any bytes unpack without panic, and accepted bytes repack
// to themselves.
func FuzzUnpack(f *testing.F) {
	f.Add("CLIENT,PORT,FLAG0,CHECKSUM", []byte{142, 103, 205, 1, 22, 15, 233})
	f.Add("CHECKSUM,FLAG1,FLAG0,CLIENT", []byte{128, 100, 15, 10, 1, 1, 1})
	f.Add("CLIENT,PORT16,RAND,THISSECOND,CHECKSUM", []byte{10, 1, 1, 1, 1, 187, 4, 9, 0})
	f.Fuzz(func(t *testing.T, fs string, b []byte) {
		fm, err := format.Parse(fs)
		if err != nil {
			return
		}
		v, err := fm.Unpack(b)
		if err != nil {
			return
		}
		again, err := fm.Pack(v)
		if err != nil || string(again) != string(b) {
			t.Fatalf("%s: %v unpacks to %+v, which packs to %v (%v)", fm, b, v, again, err)
		}
	})
}
