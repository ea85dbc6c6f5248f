package replay_test

import (
	"crypto/sha256"
	"github.com/portknock/knock/internal/vector"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/replay"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func id(s string) replay.ID { return sha256.Sum256([]byte(s)) }

func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	clk := &clock{time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	c, err := replay.Open(path, 0, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Seen(id("a")) {
		t.Fatal("empty cache has seen a")
	}
	c.Add(id("a"), clk.t.Add(time.Hour))
	c.Add(id("b"), clk.t.Add(time.Minute))
	c.Close()

	clk.t = clk.t.Add(30 * time.Minute)
	c2, err := replay.Open(path, 0, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if !c2.Seen(id("a")) {
		t.Error("a forgotten across a restart")
	}
	if c2.Seen(id("b")) || c2.Len() != 1 {
		t.Errorf("expired b still held (len %d)", c2.Len())
	}
	clk.t = clk.t.Add(31 * time.Minute)
	if c2.Seen(id("a")) {
		t.Error("a still seen after its expiry")
	}
}

func TestTornLastLineIgnored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	now := time.Now()
	c, _ := replay.Open(path, 0, nil)
	c.Add(id("a"), now.Add(time.Hour))
	c.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("00ff")
	f.Close()
	c2, err := replay.Open(path, 0, nil)
	if err != nil {
		t.Fatalf("a torn last line should be ignored: %v", err)
	}
	defer c2.Close()
	if !c2.Seen(id("a")) {
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

func TestBounded(t *testing.T) {
	c, _ := replay.Open("", 3, nil)
	now := time.Now()
	for i, s := range []string{"a", "b", "c", "d"} {
		c.Add(id(s), now.Add(time.Duration(i+1)*time.Hour))
	}
	if c.Len() != 3 || c.Seen(id("a")) || !c.Seen(id("d")) || c.Evicted() != 1 {
		t.Fatalf("len %d, a %v, d %v, evicted %d", c.Len(), c.Seen(id("a")), c.Seen(id("d")), c.Evicted())
	}
}

func TestCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay")
	clk := &clock{time.Now()}
	c, _ := replay.Open(path, 0, clk.now)
	defer c.Close()
	for i := 0; i < 3000; i++ {
		c.Add(id(string(rune(i))), clk.t.Add(time.Second))
		clk.t = clk.t.Add(2 * time.Second) // each entry expires before the next
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n > 2100 {
		t.Fatalf("file holds %d lines for at most 1 live entry: never compacted", n)
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
