package replay_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/vector"
	"github.com/portknock/knock/replay"
)

const vectorGlob = "testdata/vectors/*.txt"

// TestVectors reads back every cache file under testdata/vectors (made by
// internal/gen) with New, and checks what it recovered.
func TestVectors(t *testing.T) {
	vs, err := vector.Glob(vectorGlob)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		t.Run(strings.TrimSuffix(v.Name, ".txt"), func(t *testing.T) {
			now := time.Unix(int64(v.Ints(t, "now")[0]), 0)
			window := time.Duration(v.Ints(t, "window")[0]) * time.Second
			data, err := strconv.Unquote(v.Get("file"))
			if err != nil {
				t.Fatalf("file: %v", err)
			}
			path := filepath.Join(t.TempDir(), "replay")
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := replay.New(path, replay.Options{Window: window, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer c.Close()
			r := c.Recovery()
			damaged := "none"
			if len(r.Damaged) > 0 {
				damaged = strings.Trim(strings.Join(strings.Fields(strings.Trim(fmtInts(r.Damaged), "[]")), " "), " ")
			}
			var horizon int64
			if h := c.Horizon(); !h.IsZero() {
				horizon = h.Unix()
			}
			got := []string{strconv.Itoa(r.Entries), strconv.Itoa(r.Expired), strconv.Itoa(r.Torn), damaged, strconv.FormatInt(horizon, 10)}
			want := []string{v.Get("entries"), v.Get("expired"), v.Get("torn"), v.Get("damaged"), v.Get("horizon")}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("entries|expired|torn|damaged|horizon\ngot  %s\nwant %s", strings.Join(got, "|"), strings.Join(want, "|"))
			}
			// Read back again: the file New left behind is clean, and
			// the horizon survived the restart.
			c.Close()
			c2, err := replay.New(path, replay.Options{Window: window, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("second New: %v", err)
			}
			defer c2.Close()
			r2 := c2.Recovery()
			if r2.Torn != 0 || len(r2.Damaged) != 0 || r2.Entries != r.Entries || !c2.Horizon().Equal(c.Horizon()) {
				t.Errorf("after a restart: %+v, horizon %v (was %v)", r2, c2.Horizon(), c.Horizon())
			}
		})
	}
}

func fmtInts(l []int) string {
	s := make([]string, len(l))
	for i, n := range l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}
