package knockd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// ErrNoSequence is returned when a one-time sequences file has no valid
// line left: knockd then disables the door.
var ErrNoSequence = errors.New("no sequence left")

// oneTimeLine is a valid line of a one-time sequences file.
type oneTimeLine struct {
	offset int64 // of the line's first byte
	seq    []Step
}

// readOneTime lists the valid lines of a one-time sequences file: trimmed,
// not empty, not starting with '#', and parsing as a Sequence.
func readOneTime(r io.Reader) ([]oneTimeLine, error) {
	var out []oneTimeLine
	br := bufio.NewReader(r)
	var off int64
	for {
		line, err := br.ReadString('\n')
		start := off
		off += int64(len(line))
		text := strings.TrimSpace(line)
		if text != "" && text[0] != '#' {
			if seq, perr := ParseSequence(text); perr == nil {
				out = append(out, oneTimeLine{offset: start, seq: seq})
			}
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// nextOneTime returns the first valid sequence of the file at path.
func nextOneTime(path string) ([]Step, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, err // knockd opens it "r+": it must be writable
	}
	defer f.Close()
	lines, err := readOneTime(f)
	if err != nil {
		return nil, 0, err
	}
	if len(lines) == 0 {
		return nil, 0, fmt.Errorf("%s: %w", path, ErrNoSequence)
	}
	return lines[0].seq, lines[0].offset, nil
}

// ConsumeOneTime marks used, the sequence a door just opened with, in its
// one-time sequences file, and returns the door's next sequence. As knockd
// does, it overwrites the first byte of the used line with '#' (the file
// keeps its length). The used line is the first valid line equal to used.
// With no valid line left it returns ErrNoSequence and the door must be
// disabled.
func ConsumeOneTime(path string, used []Step) ([]Step, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("one-time sequences: %w", err)
	}
	defer f.Close()
	lines, err := readOneTime(f)
	if err != nil {
		return nil, fmt.Errorf("one-time sequences %s: %w", path, err)
	}
	i := slices.IndexFunc(lines, func(l oneTimeLine) bool { return slices.Equal(l.seq, used) })
	if i >= 0 {
		if _, err := f.WriteAt([]byte{'#'}, lines[i].offset); err != nil {
			return nil, fmt.Errorf("one-time sequences %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("one-time sequences %s: %w", path, err)
		}
		lines = slices.Delete(lines, i, i+1)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("one-time sequences %s: %w", path, ErrNoSequence)
	}
	return lines[0].seq, nil
}
