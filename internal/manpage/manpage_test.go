package manpage_test

import (
	"strings"
	"testing"

	"github.com/portknock/knock/internal/manpage"
)

func TestRender(t *testing.T) {
	src := `.\" a comment
.TH KNOCKDAEMON 8 "2026" "knock" "System Manager's Manual"
.SH NAME
knockdaemon \- open ports for valid knocks
.SH OPTIONS
.TP
.B \-conf " FILE"
Read
FILE.
.TP
\fB\-test\fR
Decide, change nothing.
.SH EXAMPLE
.nf
protected = tcp/22
.fi
`
	want := `KNOCKDAEMON

NAME
       knockdaemon - open ports for valid knocks

OPTIONS
       -conf  FILE
           Read FILE.

       -test
           Decide, change nothing.

EXAMPLE
       protected = tcp/22
`
	if got := manpage.Render(src, 78); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestWraps(t *testing.T) {
	got := manpage.Render(".SH X\n"+strings.Repeat("word ", 40)+"\n", 40)
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 40 {
			t.Fatalf("line longer than 40: %q", l)
		}
	}
}
