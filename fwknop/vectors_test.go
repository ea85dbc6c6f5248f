package fwknop_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/fwknop"
	"github.com/portknock/knock/internal/vector"
)

const vectorGlob = "testdata/vectors/*.txt"

// TestVectors runs every file under testdata/vectors (written by
// internal/gen): the positive ones must grant what they list, the
// negative ones must be refused for the reason they name.
func TestVectors(t *testing.T) {
	vs, err := vector.Glob(vectorGlob)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Run(strings.TrimSuffix(v.Name, ".txt"), func(t *testing.T) { runVector(t, v) })
	}
}

// runVector decides one vector and checks the outcome.
func runVector(t *testing.T, v vector.Vector) {
	t.Helper()
	t.Log(v.Comment)
	m := vectorMatcher(t, v)
	acc, err := m.Match([]byte(v.Get("packet")), addr(t, v, "source"), addr(t, v, "dest"), vectorNow(t, v))
	want := v.Get("expect")
	if want != "ok" {
		if got := fwknop.ReasonOf(err); string(got) != want {
			t.Fatalf("got %q (%v), want %q", got, err, want)
		}
		if acc != nil {
			t.Fatal("an Access with an error")
		}
		return
	}
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	checkAccess(t, v, acc)
}

// vectorConf is the vector's stanza as access.conf text: its upper-case
// fields, SOURCE first (ANY unless it says otherwise).
func vectorConf(v vector.Vector) string {
	src := v.Get("SOURCE")
	if src == "" {
		src = "ANY"
	}
	var keys []string
	for k := range v.Fields {
		if k != "SOURCE" && k == strings.ToUpper(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "SOURCE %s\n", src)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %s\n", k, v.Get(k))
	}
	return b.String()
}

func vectorMatcher(t *testing.T, v vector.Vector) *fwknop.Matcher {
	t.Helper()
	st, err := fwknop.ParseAccess("access.conf", []byte(vectorConf(v)))
	if err != nil {
		t.Fatalf("access.conf: %v", err)
	}
	m, err := fwknop.NewMatcher(st, fwknop.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func addr(t *testing.T, v vector.Vector, k string) netip.Addr {
	t.Helper()
	if !v.Has(k) {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(v.Get(k))
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return a
}

func vectorNow(t *testing.T, v vector.Vector) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(v.Get("now"), 10, 64)
	if err != nil {
		t.Fatalf("now: %v", err)
	}
	return time.Unix(n, 0)
}

func checkAccess(t *testing.T, v vector.Vector, a *fwknop.Access) {
	t.Helper()
	var ports []string
	for _, p := range a.Ports {
		ports = append(ports, p.String())
	}
	got := map[string]string{
		"user":      a.User,
		"addr":      a.Addr.String(),
		"ports":     strings.Join(ports, " "),
		"duration":  strconv.Itoa(int(a.Duration / time.Second)),
		"timestamp": strconv.FormatInt(a.Timestamp.Unix(), 10),
	}
	for k, g := range got {
		if w := v.Get(k); g != w {
			t.Errorf("%s: got %q, want %q", k, g, w)
		}
	}
	if want := a.User + "@access.conf:1"; a.Name != want {
		t.Errorf("name %q, want %q", a.Name, want)
	}
	if !a.ReplayUntil.Equal(a.Timestamp.Add(fwknop.DefaultMaxAge)) {
		t.Errorf("replay until %v, want timestamp + max age", a.ReplayUntil)
	}
}

func readAccess(path string) ([]fwknop.Stanza, error) { return fwknop.ReadAccess(path) }
