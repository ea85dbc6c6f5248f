package replay_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/vector"
	"github.com/portknock/knock/replay"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func id(s string) replay.ID { return sha256.Sum256([]byte(s)) }

// A claim survives a restart until it expires; an expired one is dropped
// when the file is read back.
func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "replay")
	clk := &clock{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	c := newCache(t, path, opts(clk))
	if !claim(t, c, "a", clk.t.Add(time.Hour)) || !claim(t, c, "b", clk.t.Add(time.Minute)) {
		t.Fatal("an empty cache holds a or b")
	}
	c.Close()

	clk.t = clk.t.Add(30 * time.Minute)
	c2 := newCache(t, path, opts(clk))
	if r := c2.Recovery(); r.Entries != 1 || r.Expired != 1 || c2.Stats().Entries != 1 {
		t.Errorf("recovery %+v, %d held; want a held, b dropped as expired", r, c2.Stats().Entries)
	}
	if claim(t, c2, "a", clk.t.Add(time.Hour)) {
		t.Error("a forgotten across a restart")
	}
	if !claim(t, c2, "b", clk.t.Add(time.Minute)) {
		t.Error("expired b still held")
	}
	clk.t = clk.t.Add(31 * time.Minute)
	if !claim(t, c2, "a", clk.t.Add(time.Hour)) {
		t.Error("a still held after its expiry")
	}
}

// An append cut short at the end of the file is dropped as torn; the
// claims before it are kept and nothing is lost.
func TestTornLastLineIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "replay")
	clk := &clock{t0}
	c := newCache(t, path, opts(clk))
	claim(t, c, "a", t0.Add(time.Hour))
	c.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("00ff")
	f.Close()
	c2, err := replay.New(path, opts(clk))
	if err != nil {
		t.Fatalf("a torn last line should be ignored: %v", err)
	}
	defer c2.Close()
	if r := c2.Recovery(); r.Torn != 1 || len(r.Damaged) != 0 || !c2.Horizon().IsZero() {
		t.Errorf("recovery %+v, horizon %v; want 1 torn line, nothing lost", r, c2.Horizon())
	}
	if claim(t, c2, "a", t0.Add(time.Hour)) {
		t.Error("lost a")
	}
}

// A damaged line no longer stops the daemon: it is dropped, reported by
// line number without quoting it, and the cache sets its horizon, since
// the line may have held a claim.
func TestDamageDroppedNotQuoted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	secret := "knock1-fnE9tQgTN9CvceJBUglAPcf9GEFOBe54-K_H0dcs2gIhS0cs"
	os.WriteFile(path, []byte(secret+"\n"+strings.Repeat("0", 64)+" 99999999999\n"), 0o600)
	var log strings.Builder
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c, err := replay.New(path, replay.Options{Window: time.Minute, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatalf("damaged cache refused: %v", err)
	}
	defer c.Close()
	r := c.Recovery()
	if len(r.Damaged) != 1 || r.Damaged[0] != 1 || r.Entries != 1 {
		t.Errorf("recovery %+v, want line 1 damaged and 1 entry", r)
	}
	if want := now.Add(time.Minute); !c.Horizon().Equal(want) {
		t.Errorf("horizon %v, want %v", c.Horizon(), want)
	}
	for _, s := range []string{r.String(), log.String()} {
		if strings.Contains(s, "knock1-") || strings.Contains(s, "fnE9") {
			t.Errorf("the report quotes the file: %s", s)
		}
		if !strings.Contains(s, "lines 1") {
			t.Errorf("the report does not name line 1: %s", s)
		}
	}
}

// The cache holds at most Options.Max unexpired IDs: a full cache refuses
// a new claim (ErrFull), writes nothing for it, and forgets none of the
// others, across a restart too.
func TestBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "replay")
	clk := &clock{t0}
	o := replay.Options{Window: time.Minute, Max: 3, Now: clk.now}
	c := newCache(t, path, o)
	for i, s := range []string{"a", "b", "c"} {
		if !claim(t, c, s, t0.Add(time.Duration(i+1)*time.Hour)) {
			t.Fatalf("%s not fresh", s)
		}
	}
	before, _ := os.ReadFile(path)
	if fresh, err := c.Claim(id("d"), t0.Add(4*time.Hour)); fresh || !errors.Is(err, replay.ErrFull) {
		t.Fatalf("claim on a full cache: fresh %v, err %v, want ErrFull", fresh, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a refused claim was written")
	}
	if s := c.Stats(); s.Entries != 3 || s.Full != 1 || s.Fresh != 3 {
		t.Errorf("stats %+v, want 3 held, 1 refused as full", s)
	}
	for _, s := range []string{"a", "b", "c"} {
		if claim(t, c, s, t0.Add(time.Hour)) {
			t.Errorf("%s forgotten to make room", s)
		}
	}
	c.Close()

	c2 := newCache(t, path, o)
	if fresh, err := c2.Claim(id("d"), t0.Add(4*time.Hour)); fresh || !errors.Is(err, replay.ErrFull) {
		t.Fatalf("after a restart, claim on a full cache: fresh %v, err %v, want ErrFull", fresh, err)
	}
}

// Once the file holds about twice the live entries, it is rewritten with
// the live ones only.
func TestCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "replay")
	clk := &clock{t0}
	c := newCache(t, path, opts(clk))
	for i := range 3000 {
		if !claim(t, c, strconv.Itoa(i), clk.t.Add(time.Second)) {
			t.Fatalf("claim %d not fresh", i)
		}
		clk.t = clk.t.Add(2 * time.Second) // each entry expires before the next
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n > 2100 {
		t.Fatalf("file holds %d lines for at most 1 live entry: never compacted", n)
	}
	if s := c.Stats(); s.Compactions < 2 || s.CompactFailures != 0 {
		t.Errorf("stats %+v, want compactions (the one at start and later ones)", s)
	}
	claim(t, c, "last", clk.t.Add(time.Hour))
	c.Close()
	c2 := newCache(t, path, opts(clk))
	if r := c2.Recovery(); r.Entries != 1 || r.Torn != 0 || len(r.Damaged) != 0 || claim(t, c2, "last", clk.t.Add(time.Hour)) {
		t.Errorf("read back after compactions: %d entries, %d torn, damaged %v; want the last claim only", r.Entries, r.Torn, r.Damaged)
	}
}

// FuzzLoad opens any file as a cache: New never fails on what the file
// holds, and never quotes it.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(strings.Repeat("ab", 32) + " 99999999999\n"))
	f.Add([]byte("garbage\n"))
	seeds, _ := filepath.Glob("testdata/vectors/*.txt")
	if len(seeds) == 0 {
		f.Fatal("no vectors under testdata/vectors")
	}
	for _, s := range seeds {
		v, err := vector.Read(s)
		if err != nil {
			f.Fatal(err)
		}
		data, err := strconv.Unquote(v.Get("file"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "replay")
		os.WriteFile(path, data, 0o600)
		c, err := replay.New(path, replay.Options{Window: time.Minute})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if r := c.Recovery().String(); len(data) > 8 && strings.Contains(r, string(data)) {
			t.Fatalf("the report quotes the file: %s", r)
		}
		c.Close()
	})
}
