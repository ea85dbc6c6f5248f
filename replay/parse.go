package replay

import (
	"bytes"
	"encoding/hex"
	"strconv"
)

// The file's lines (docs/sealed.md, "Replay and clocks"):
//
//	<64 hex digits of the ID> <Unix seconds of expiry>
//	horizon <Unix seconds>
const (
	idHex         = 2 * len(ID{})
	horizonPrefix = "horizon "
	maxDigits     = 19 // an int64
)

// parsed is what a cache file holds, read back as well as it can be.
type parsed struct {
	entries map[ID]int64 // live entries: expiry > now
	horizon int64        // the latest horizon line, 0 without one
	expired int          // records dropped because they expired
	torn    int          // fragments of unfinished appends dropped
	damaged []int        // line numbers (from 1) of lines that are no record
	lines   int          // lines read, fragments included
	clean   bool         // the data is empty or ends with a newline
}

// parse reads a cache file. It never fails: what cannot be read is
// counted, as torn when it is the start of a line cut short at the end of
// the file or joined to the next record (an append that did not finish,
// which no claim acknowledged), and as damaged otherwise (a line that
// might have held a claim).
func parse(data []byte, now int64) parsed {
	p := parsed{entries: make(map[ID]int64), clean: len(data) == 0 || data[len(data)-1] == '\n'}
	n := 0
	for len(data) > 0 {
		line, rest, whole := bytes.Cut(data, []byte("\n"))
		data = rest
		n++
		p.line(n, line, !whole, now)
	}
	p.lines = n
	return p
}

func (p *parsed) line(n int, line []byte, last bool, now int64) {
	if len(line) == 0 {
		return
	}
	if p.record(line, now) {
		return
	}
	// A failed append (old code, or a crash) may have left a fragment
	// that the next record was joined to: keep the record at the end.
	if head, ok := joined(line); ok {
		p.record(line[len(head):], now)
		if p.record(head, now) || fragment(head) {
			p.torn++
		} else {
			p.damaged = append(p.damaged, n)
		}
		return
	}
	// Only the last line can be cut short by a crash: a fragment with a
	// newline after it is damage (a record that lost its end).
	if last && fragment(line) {
		p.torn++
		return
	}
	p.damaged = append(p.damaged, n)
}

// record takes one whole line, reporting whether it was a record.
func (p *parsed) record(line []byte, now int64) bool {
	if h, ok := bytes.CutPrefix(line, []byte(horizonPrefix)); ok {
		t, ok := seconds(h)
		if ok {
			p.horizon = max(p.horizon, t)
		}
		return ok
	}
	id, exp, ok := entry(line)
	if !ok {
		return false
	}
	if exp <= now {
		p.expired++
		return true
	}
	p.entries[id] = max(p.entries[id], exp)
	return true
}

// joined splits a line whose end is a whole entry and whose start is
// something else, returning the start.
func joined(line []byte) ([]byte, bool) {
	sp := bytes.LastIndexByte(line, ' ')
	if sp < idHex+1 {
		return nil, false
	}
	if _, _, ok := entry(line[sp-idHex:]); !ok {
		return nil, false
	}
	return line[:sp-idHex], true
}

func entry(line []byte) (id ID, exp int64, ok bool) {
	if len(line) < idHex+2 || line[idHex] != ' ' {
		return id, 0, false
	}
	if _, err := hex.Decode(id[:], line[:idHex]); err != nil {
		return id, 0, false
	}
	exp, ok = seconds(line[idHex+1:])
	return id, exp, ok
}

// seconds reads a non-negative decimal: digits only, no sign, no space.
func seconds(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > maxDigits {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil
}

// fragment reports whether b is the start of a line the cache writes, cut
// short: what a torn write leaves.
func fragment(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	if !isHex(b[0]) {
		if len(b) <= len(horizonPrefix) {
			return bytes.HasPrefix([]byte(horizonPrefix), b)
		}
		h, ok := bytes.CutPrefix(b, []byte(horizonPrefix))
		if !ok {
			return false
		}
		_, ok = seconds(h)
		return ok
	}
	i := 0
	for i < len(b) && i < idHex && isHex(b[i]) {
		i++
	}
	if i == len(b) {
		return true
	}
	if i < idHex || b[i] != ' ' {
		return false
	}
	if i+1 == len(b) {
		return true
	}
	_, ok := seconds(b[i+1:])
	return ok
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func appendEntry(b []byte, id ID, exp int64) []byte {
	b = hex.AppendEncode(b, id[:])
	b = append(b, ' ')
	b = strconv.AppendInt(b, exp, 10)
	return append(b, '\n')
}

func appendHorizon(b []byte, h int64) []byte {
	b = append(b, horizonPrefix...)
	b = strconv.AppendInt(b, h, 10)
	return append(b, '\n')
}
