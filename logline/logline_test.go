package logline

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

var sampleFields = Fields{
	Date:       time.Date(2003, time.November, 22, 10, 30, 0, 0, time.UTC),
	Client:     netip.MustParseAddr("10.1.1.1"),
	Remote:     netip.MustParseAddr("10.1.1.2"),
	ClientPort: 40000,
	RemotePort: 745,
}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		template string
		f        Fields
		want     string
	}{
		{DefaultTemplate, sampleFields, "Nov 22 10:30:00 localhost kernel: knock: IN=eth0 OUT= SRC=10.1.1.1 DST=10.1.1.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=TCP SPT=40000 DPT=745 WINDOW=64240 RES=0x00 SYN URGP=0"},
		{"_DATE_|_CLIENT_|_REMOTE_|_CLIENTPORT_|_REMOTEPORT_", Fields{Date: time.Date(2003, 1, 2, 3, 4, 5, 0, time.UTC)}, "Jan  2 03:04:05|||0|0"},
		{"__CLIENT__ _CLIENTPORT _FOO_ _REMOTE_PORT_", sampleFields, "_10.1.1.1_ _CLIENTPORT _FOO_ 10.1.1.2PORT_"},
		{"_REMOTE_ _CLIENT_", Fields{Client: netip.MustParseAddr("2001:db8::1"), Remote: netip.MustParseAddr("::ffff:10.1.1.2")}, "::ffff:10.1.1.2 2001:db8::1"},
		{"", sampleFields, ""},
	} {
		if got := Render(tc.template, tc.f); got != tc.want {
			t.Errorf("Render(%q)\n got  %q\n want %q", tc.template, got, tc.want)
		}
	}
}

func TestPatternFor(t *testing.T) {
	got, err := PatternFor("from _CLIENT_:_CLIENTPORT_ (to _REMOTE_) port _REMOTEPORT_ _CLIENT_")
	want := `^from (?P<src>[0-9A-Fa-f.:]+):[0-9]+ \(to (?P<dst>[0-9A-Fa-f.:]*)\) port (?P<dport>[0-9]+) (?:[0-9A-Fa-f.:]+)$`
	if err != nil || got != want {
		t.Errorf("PatternFor\n got  %s (%v)\n want %s", got, err, want)
	}
	for _, tc := range []struct{ template, want string }{
		{"_REMOTE_ _REMOTEPORT_", `template "_REMOTE_ _REMOTEPORT_" has no _CLIENT_: the daemon needs the client address and the knocked port`},
		{"_CLIENT_ _CLIENTPORT_", `has no _REMOTEPORT_`},
		{"_CLIENT__REMOTEPORT_", `template "_CLIENT__REMOTEPORT_": _CLIENT_ and _REMOTEPORT_ touch: put text between them`},
		{"_DATE__CLIENT_ _REMOTEPORT_", `_DATE_ and _CLIENT_ touch`},
		{"_CLIENT_ _REMOTEPORT_\n_CLIENT_", `spans lines`},
		{"_CLIENT_ _REMOTEPORT_ \xff", `is not UTF-8`},
	} {
		if _, err := PatternFor(tc.template); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PatternFor(%q)\n got  %v\n want an error with %s", tc.template, err, tc.want)
		}
	}
}
