// Command gen writes the replay cache's test vectors: cache files, most of
// them damaged, with what reading them back must find.
//
//	cd replay && go run ./internal/gen
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const now = 1800000000

// id is the hex of an ID made of one repeated byte.
func id(b byte) string { return strings.Repeat(fmt.Sprintf("%02x", b), 32) }

// rec is one whole line: an ID that expires at now+ttl.
func rec(b byte, ttl int) string { return fmt.Sprintf("%s %d\n", id(b), now+ttl) }

type want struct {
	entries, expired, torn int
	damaged                string // line numbers, or "none"
	horizon                int
}

type vec struct {
	name, comment, file string
	want
}

var vectors = []vec{
	{"good-empty", "An empty file: a cache with nothing in it.", "", want{0, 0, 0, "none", 0}},
	{"good-two", "Two live entries.", rec(1, 60) + rec(2, 120), want{2, 0, 0, "none", 0}},
	{"good-expired", "An entry that expired is dropped, quietly.", rec(1, 60) + rec(2, 0) + rec(3, -5), want{1, 2, 0, "none", 0}},
	{"good-horizon", "A horizon line is read back.", "horizon 1800000030\n" + rec(1, 60), want{1, 0, 0, "none", 1800000030}},
	{"good-blank-lines", "Blank lines are nothing.", rec(1, 60) + "\n\n" + rec(2, 60), want{2, 0, 0, "none", 0}},
	{"good-twice", "One ID twice keeps the later expiry.", rec(1, 60) + rec(1, 90), want{1, 0, 0, "none", 0}},
	{"good-no-final-newline", "A whole record whose newline was not written is kept: remembering more is safe.", rec(1, 60) + strings.TrimSuffix(rec(2, 60), "\n"), want{2, 0, 0, "none", 0}},
	{"torn-last-hex", "A crash during an append: the start of an ID at the end.", rec(1, 60) + id(2)[:20], want{1, 0, 1, "none", 0}},
	{"torn-last-space", "A crash during an append: the ID and its space.", rec(1, 60) + id(2) + " ", want{1, 0, 1, "none", 0}},
	{"torn-last-expiry", "Cut in the expiry: the digits left are an earlier time, dropped as expired.", rec(1, 60) + id(2) + " 18000", want{1, 1, 0, "none", 0}},
	{"torn-last-horizon", "Cut in a horizon line.", rec(1, 60) + "horiz", want{1, 0, 1, "none", 0}},
	{"damaged-fragment-mid-file", "The start of a record with a newline after it: not a crash's tear (only the last line can be) but a record that lost its end.", rec(1, 60) + id(2)[:7] + "\n" + rec(3, 60), want{2, 0, 0, "2", now + 60}},
	{"torn-joined-hex", "The old code's failed append: a fragment, then the next record on the same line. The record is kept.", rec(1, 60) + "00ff" + rec(2, 60) + rec(3, 60), want{3, 0, 1, "none", 0}},
	{"torn-joined-after-space", "A fragment cut after the space, joined to the next record.", id(1) + " " + rec(2, 60), want{1, 0, 1, "none", 0}},
	{"torn-joined-in-expiry", "A fragment cut in its expiry, joined to the next record.", id(1) + " 1800" + rec(2, 60), want{1, 1, 1, "none", 0}},
	{"torn-joined-whole", "A whole record without its newline, joined to the next: both kept.", strings.TrimSuffix(rec(1, 60), "\n") + rec(2, 60), want{2, 0, 1, "none", 0}},
	{"torn-joined-horizon", "A cut horizon line joined to a record.", "horizon 18" + rec(2, 60), want{1, 0, 1, "none", 0}},
	{"damaged-garbage", "A line that is no record may have been a claim: the horizon is set.", "not a line\n" + rec(1, 60), want{1, 0, 0, "1", now + 60}},
	{"damaged-secret", "A line holding what looks like a key: dropped, and never quoted.", rec(1, 60) + "knock1-fnE9tQgTN9CvceJBUglAPcf9GEFOBe54-K_H0dcs2gIhS0cs\n", want{1, 0, 0, "2", now + 60}},
	{"damaged-negative", "A negative expiry.", id(1) + " -5\n" + rec(2, 60), want{1, 0, 0, "1", now + 60}},
	{"damaged-overflow", "An expiry beyond 64 bits.", id(1) + " 99999999999999999999\n", want{0, 0, 0, "1", now + 60}},
	{"damaged-tab", "A tab for the space.", id(1) + "\t1800000060\n", want{0, 0, 0, "1", now + 60}},
	{"damaged-two-spaces", "Two spaces.", id(1) + "  1800000060\n", want{0, 0, 0, "1", now + 60}},
	{"damaged-crlf", "A carriage return before the newline.", id(1) + " 1800000060\r\n", want{0, 0, 0, "1", now + 60}},
	{"torn-joined-two-digits", "Two hex digits, then a record, on one line: an ID of 66 digits read as a fragment and a record.", "ab" + rec(1, 60), want{1, 0, 1, "none", 0}},
	{"damaged-bad-hex", "A non-hex digit in the ID.", "zz" + id(1)[2:] + " 1800000060\n", want{0, 0, 0, "1", now + 60}},
	{"damaged-nul", "Zero bytes where lines were (a file system that lost its data).", rec(1, 60) + "\x00\x00\x00\x00\n" + rec(2, 60), want{2, 0, 0, "2", now + 60}},
	{"damaged-joined-garbage", "Garbage joined to a record: the record is kept, the line counted damaged.", "@@" + rec(1, 60), want{1, 0, 0, "1", now + 60}},
	{"damaged-horizon", "A horizon line with no time.", "horizon x\n" + rec(1, 60), want{1, 0, 0, "1", now + 60}},
	{"damaged-horizon-later", "A horizon later than start + window is kept.", "horizon 1800000500\nnot a line\n", want{0, 0, 0, "2", 1800000500}},
	{"damaged-many", "Many damaged lines.", "a b\nc d\ne f\n" + rec(1, 60) + "g h\ni j\nk l\n", want{1, 0, 0, "1 2 3 5 6 7", now + 60}},
}

func main() {
	out := flag.String("out", "testdata/vectors", "folder to write to")
	flag.Parse()
	for _, v := range vectors {
		var b strings.Builder
		fmt.Fprintf(&b, "# %s\n", v.comment)
		fmt.Fprintf(&b, "now:      %d\n", now)
		fmt.Fprintf(&b, "window:   60\n")
		fmt.Fprintf(&b, "file:     %s\n", strconv.Quote(v.file))
		fmt.Fprintf(&b, "entries:  %d\n", v.entries)
		fmt.Fprintf(&b, "expired:  %d\n", v.expired)
		fmt.Fprintf(&b, "torn:     %d\n", v.torn)
		fmt.Fprintf(&b, "damaged:  %s\n", v.damaged)
		fmt.Fprintf(&b, "horizon:  %d\n", v.horizon)
		if err := os.WriteFile(filepath.Join(*out, v.name+".txt"), []byte(b.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
