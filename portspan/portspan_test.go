package portspan_test

import (
	"bufio"
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/portknock/knock/portspan"
)

// TestParse runs testdata/spans.txt: good spans with their N, bad ones with
// the words their error must contain.
func TestParse(t *testing.T) {
	f, err := os.Open("testdata/spans.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		span := strings.TrimRight(line[:42], " ")
		verdict, want, _ := strings.Cut(strings.TrimSpace(line[42:]), " ")
		n++
		sp, err := portspan.Parse(span)
		switch verdict {
		case "ok":
			bits, _ := strconv.Atoi(want)
			if err != nil || sp.Bits() != bits || sp.Size() != 1<<bits {
				t.Errorf("Parse(%q) = %v, %v; want %d bits", span, sp, err, bits)
			}
		case "error":
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Parse(%q) error %v, want one containing %q", span, err, want)
			}
		default:
			t.Fatalf("bad line %q", line)
		}
	}
	if n < 10 {
		t.Fatalf("read only %d spans from testdata/spans.txt", n)
	}
}

func TestOrderIsAsListed(t *testing.T) {
	sp, err := portspan.Parse("9,5")
	if err != nil {
		t.Fatal(err)
	}
	if sp.Port(0) != 9 || sp.Port(1) != 5 {
		t.Fatalf("ports %d %d, want 9 5", sp.Port(0), sp.Port(1))
	}
}

// Every span size, every length: Unpack(Pack(b)) == b.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for bits := 1; bits <= portspan.MaxBits; bits++ {
		sp, err := portspan.Parse("0-" + strconv.Itoa(1<<bits-1))
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < 40; n++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			ports := sp.Pack(b)
			if len(ports) != sp.Ports(n) {
				t.Fatalf("N=%d: %d bytes packed into %d ports, Ports says %d", bits, n, len(ports), sp.Ports(n))
			}
			back, err := sp.Unpack(ports, n)
			if err != nil || !bytes.Equal(back, b) {
				t.Fatalf("N=%d n=%d: %x -> %v -> %x, %v", bits, n, b, ports, back, err)
			}
		}
	}
}

func TestUnpackErrors(t *testing.T) {
	sp, _ := portspan.Parse("745-1000")
	if _, err := sp.Unpack([]uint16{745, 1001}, 2); !errors.Is(err, portspan.ErrNotInSpan) {
		t.Errorf("port outside: %v", err)
	}
	if _, err := sp.Unpack([]uint16{745}, 2); !errors.Is(err, portspan.ErrLength) {
		t.Errorf("short: %v", err)
	}
	sp16, _ := portspan.Parse("0-15")
	// 1 byte takes 2 groups of 4 bits; 3 bytes take 6. 5 bytes: 10 groups.
	if _, err := sp16.Unpack(make([]uint16, 10), 5); err != nil {
		t.Errorf("zero symbols: %v", err)
	}
	sp1k, _ := portspan.Parse("0-1023")
	// 1 byte over N=10: one group of 8 bits; 256 does not fit it.
	if _, err := sp1k.Unpack([]uint16{256}, 1); !errors.Is(err, portspan.ErrLastSymbol) {
		t.Errorf("oversized last symbol: %v", err)
	}
}

// FuzzParse: no panic; an accepted span has 2^N distinct ports and lists
// itself back consistently.
func FuzzParse(f *testing.F) {
	seeds, err := os.ReadFile("testdata/spans.txt")
	if err != nil {
		f.Fatal(err)
	}
	count := 0
	for _, line := range strings.Split(string(seeds), "\n") {
		if len(line) > 42 && !strings.HasPrefix(line, "#") {
			f.Add(strings.TrimSpace(line[:42]))
			count++
		}
	}
	if count == 0 {
		f.Fatal("no seeds in testdata/spans.txt")
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := portspan.Parse(s)
		if err != nil {
			return
		}
		if sp.Size() != 1<<sp.Bits() {
			t.Fatalf("%q: size %d, bits %d", s, sp.Size(), sp.Bits())
		}
		for i := 0; i < sp.Size(); i++ {
			if j, ok := sp.Index(sp.Port(i)); !ok || j != i {
				t.Fatalf("%q: port %d at %d indexes to %d", s, sp.Port(i), i, j)
			}
		}
	})
}

// FuzzUnpack: arbitrary ports never panic, and what unpacks packs back.
func FuzzUnpack(f *testing.F) {
	f.Add("745-1000", []byte{0x03, 0xc6, 0x03, 0x92}, 2)
	f.Add("1024-5000,6000-25000,26000-35789", []byte{0x77, 0xeb, 0x3c, 0x2f}, 3)
	f.Add("40000-40511,41000-41511", []byte{0x9c, 0xd7}, 1)
	f.Fuzz(func(t *testing.T, span string, raw []byte, n int) {
		sp, err := portspan.Parse(span)
		if err != nil || n < 0 || n > 64 {
			return
		}
		ports := make([]uint16, len(raw)/2)
		for i := range ports {
			ports[i] = uint16(raw[2*i])<<8 | uint16(raw[2*i+1])
		}
		b, err := sp.Unpack(ports, n)
		if err != nil {
			return
		}
		again := sp.Pack(b)
		for i := range again {
			if again[i] != ports[i] {
				t.Fatalf("%v unpacks to %x, which packs to %v", ports, b, again)
			}
		}
	})
}
