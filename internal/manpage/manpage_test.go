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
.BI \-conf " FILE"
Read
FILE.
.SS Example
.nf
protected = tcp/22
.fi
`
	want := `KNOCKDAEMON(8)

NAME
       knockdaemon - open ports for valid knocks

OPTIONS

       -conf FILE
              Read FILE.

   Example
       protected = tcp/22
`
	got, err := manpage.Render("x.8", src)
	if err != nil || got != want {
		t.Fatalf("got (%v)\n%s\nwant\n%s", err, got, want)
	}
}

func TestUnknownRequestRefused(t *testing.T) {
	if _, err := manpage.Render("x.1", ".TH X 1\n.UR https://example.org\n"); err == nil || !strings.Contains(err.Error(), "x.1:2: request .UR") {
		t.Fatalf("error %v", err)
	}
}

func TestWraps(t *testing.T) {
	got, _ := manpage.Render("x.1", ".SH X\n"+strings.Repeat("word ", 40)+"\n")
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 78 {
			t.Fatalf("line longer than 78: %q", l)
		}
	}
}

// TestListOfNames: `.B a ", " b` is "a, b", as the pages mean it, and
// .BR alternates fonts with no space between.
func TestListOfNames(t *testing.T) {
	for src, want := range map[string]string{
		".B kdftime \", \" kdfmemory \", \" kdfthreads": "kdftime, kdfmemory, kdfthreads",
		".B test \", \" quiet \", \" debug":             "test, quiet, debug",
		".BR SIGTERM \", \" SIGINT":                     "SIGTERM, SIGINT",
		".B maxsources , maxactive":                     "maxsources, maxactive",
		".B two words":                                  "two words",
		".I file .":                                     "file.",
		`.B ""`:                                         "",
	} {
		got, err := manpage.Render("x.8", ".SH X\n"+src+"\n")
		if err != nil {
			t.Fatal(err)
		}
		if got = strings.TrimSpace(strings.TrimPrefix(got, "X\n")); got != want {
			t.Errorf("%s: got %q, want %q", src, got, want)
		}
	}
}
