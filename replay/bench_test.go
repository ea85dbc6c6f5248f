package replay_test

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/portknock/knock/replay"
)

// BenchmarkClaim measures a fresh claim: in memory, and on disk, where
// each claim is a write and an fsync (so the disk sets the pace).
func BenchmarkClaim(b *testing.B) {
	for _, where := range []string{"memory", "file"} {
		b.Run(where, func(b *testing.B) {
			path := ""
			if where == "file" {
				path = filepath.Join(b.TempDir(), "state", "replay")
			}
			c, err := replay.New(path, replay.Options{Window: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			until := time.Now().Add(time.Hour)
			var id replay.ID
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				binary.LittleEndian.PutUint64(id[:], uint64(i))
				if fresh, err := c.Claim(id, until); !fresh || err != nil {
					b.Fatal(fresh, err)
				}
			}
		})
	}
	b.Run("replay", func(b *testing.B) {
		c, _ := replay.New("", replay.Options{Window: time.Minute})
		until := time.Now().Add(time.Hour)
		c.Claim(replay.ID{1}, until)
		b.ReportAllocs()
		for b.Loop() {
			if fresh, _ := c.Claim(replay.ID{1}, until); fresh {
				b.Fatal("fresh twice")
			}
		}
	})
}
