package packettest

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Frames reads the frames of the vector files matching glob (such as
// source/packet/testdata/vectors/*.hex: "#" comment lines, then hex), by
// file name without extension. A glob that finds nothing fails the test.
func Frames(tb testing.TB, glob string) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		tb.Fatalf("no vectors in %s (err %v)", glob, err)
	}
	frames := map[string][]byte{}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		var body strings.Builder
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "#") {
				body.WriteString(strings.TrimSpace(line))
			}
		}
		frame, err := hex.DecodeString(body.String())
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		frames[strings.TrimSuffix(filepath.Base(file), ".hex")] = frame
	}
	return frames
}
