// Package vector reads the test vector files under testdata/vectors: one
// "name: value" pair per line, "#" comments, as simple as can be read by eye.
package vector

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/portknock/knock/format"
)

// Vector is one test vector file.
type Vector struct {
	Name    string
	Comment string
	Fields  map[string]string
}

// Glob reads every file matching pattern; it fails if none matches, so that
// a moved directory cannot silently run no test.
func Glob(pattern string) ([]Vector, error) {
	names, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no test vectors match %q", pattern)
	}
	sort.Strings(names)
	out := make([]Vector, 0, len(names))
	for _, n := range names {
		v, err := Read(n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Read reads one vector file.
func Read(path string) (Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return Vector{}, err
	}
	defer f.Close()
	v := Vector{Name: filepath.Base(path), Fields: map[string]string{}}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if c, ok := strings.CutPrefix(text, "#"); ok {
			v.Comment += strings.TrimSpace(c) + " "
			continue
		}
		if text == "" {
			continue
		}
		k, val, ok := strings.Cut(text, ":")
		if !ok {
			return Vector{}, fmt.Errorf("%s:%d: expected \"name: value\", got %q", path, line, text)
		}
		v.Fields[strings.TrimSpace(k)] = strings.TrimSpace(val)
	}
	return v, sc.Err()
}

// Has reports whether the vector sets a field.
func (v Vector) Has(k string) bool {
	_, ok := v.Fields[k]
	return ok
}

// Get returns a field's text.
func (v Vector) Get(k string) string { return v.Fields[k] }

// Ints reads a field of space-separated integers.
func (v Vector) Ints(tb testing.TB, k string) []int {
	tb.Helper()
	var out []int
	for _, s := range strings.Fields(v.Fields[k]) {
		n, err := strconv.Atoi(s)
		if err != nil {
			tb.Fatalf("%s: %s: %q is not an integer", v.Name, k, s)
		}
		out = append(out, n)
	}
	return out
}

// Bytes reads a field of space-separated byte values.
func (v Vector) Bytes(tb testing.TB, k string) []byte {
	tb.Helper()
	ints := v.Ints(tb, k)
	out := make([]byte, len(ints))
	for i, n := range ints {
		if n < 0 || n > 255 {
			tb.Fatalf("%s: %s: %d is not a byte", v.Name, k, n)
		}
		out[i] = byte(n)
	}
	return out
}

// Ports reads a field of space-separated ports.
func (v Vector) Ports(tb testing.TB, k string) []uint16 {
	tb.Helper()
	ints := v.Ints(tb, k)
	out := make([]uint16, len(ints))
	for i, n := range ints {
		if n < 0 || n > 65535 {
			tb.Fatalf("%s: %s: %d is not a port", v.Name, k, n)
		}
		out[i] = uint16(n)
	}
	return out
}

// IV reads the iv field: "hex:..." or the IV's ASCII text; nil if absent.
func (v Vector) IV(tb testing.TB) []byte {
	tb.Helper()
	s, ok := v.Fields["iv"]
	if !ok {
		return nil
	}
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		b, err := hex.DecodeString(h)
		if err != nil {
			tb.Fatalf("%s: iv: %v", v.Name, err)
		}
		return b
	}
	return []byte(s)
}

// Values reads the knock values: client, port, flagN, rand.
func (v Vector) Values(tb testing.TB) format.Values {
	tb.Helper()
	var out format.Values
	out.Flags = map[int]int{}
	for k, s := range v.Fields {
		var err error
		switch {
		case k == "client":
			out.Client, err = netip.ParseAddr(s)
		case k == "port":
			out.Port, err = strconv.Atoi(s)
		case k == "rand":
			out.Rand, err = strconv.Atoi(s)
		case strings.HasPrefix(k, "flag"):
			var n, val int
			if n, err = strconv.Atoi(k[4:]); err == nil {
				val, err = strconv.Atoi(s)
				out.Flags[n] = val
			}
		}
		if err != nil {
			tb.Fatalf("%s: %s: %v", v.Name, k, err)
		}
	}
	return out
}
