package clienttest

import (
	"bufio"
	"fmt"
	"os"

	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/logfile"
)

// ReadLog reads a log file the client wrote as the daemon does, with
// its parser (package source/logfile) and patterns, and returns a hit per
// line; a line the daemon cannot read is an error.
func ReadLog(path string, patterns []string) ([]source.Hit, error) {
	p, err := logfile.NewParser(patterns)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []source.Hit
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hit, err := p.Parse(sc.Bytes())
		if err != nil {
			return out, fmt.Errorf("the daemon cannot read %q: %w", sc.Text(), err)
		}
		out = append(out, hit)
	}
	return out, sc.Err()
}
