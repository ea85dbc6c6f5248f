//go:build ignore

// gen writes the knockd.conf test vectors of this directory: go run gen.go.
// Each file starts with comment lines that knockd skips:
//
//	# want: ok                          Parse accepts it
//	# want: line N: text                Parse refuses it at line N, saying text
//	# knockd: accepts | refuses         whether knockd 0.8 starts with it
//
// TestConfVectors runs them all, and TestConfVectorsKnockd checks the
// knockd line against the real knockd.
package main

import (
	"fmt"
	"os"
	"strings"
)

type vector struct {
	name, want, knockd, body string
}

const door = "[door]\nsequence = 7000,8000,9000\n"

var vectors = []vector{
	// Accepted.
	{"ok-minimal", "ok", "accepts", door},
	{"ok-full", "ok", "accepts", `[options]
	UseSyslog
	LogFile = /var/log/knockd.log
	PidFile = /run/knockd.pid
	Interface = eth1

# Comments on their own line.
[openSSH]
	sequence    = 7000,8000:udp,9000:TCP
	seq_timeout = 5
	command     = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	tcpflags    = syn,!ack
	Start_Command_6 = /sbin/ip6tables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	cmd_timeout = 30
	stop_command = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	Stop_Command_6 = /sbin/ip6tables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	target = 192.0.2.1

[closeSSH]
	SEQUENCE = 9000,8000,7000
	Timeout = 10
	Start_Command = true
`},
	{"ok-debian-default", "ok", "accepts", `[options]
	UseSyslog

[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 5
	command     = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	tcpflags    = syn

[closeSSH]
	sequence    = 9000,8000,7000
	seq_timeout = 5
	command     = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	tcpflags    = syn

[openHTTPS]
	sequence    = 12345,54321,24680,13579
	seq_timeout = 5
	tcpflags    = syn
	start_command = /usr/local/sbin/knock_add -i -c INPUT -p tcp -d 443 -f %IP%
	cmd_timeout   = 10
	stop_command  = /usr/local/sbin/knock_add -d -c INPUT -p tcp -d 443 -f %IP%
`},
	{"ok-usesyslog-in-door", "ok", "accepts", door + "UseSyslog\n"},
	{"ok-spaces-in-sequence", "ok", "accepts", "[door]\nsequence = 7000 , 8000 : udp\n"},
	{"ok-sequence-replaced", "ok", "accepts", door + "sequence = 1000\n"},
	{"ok-flags-repeat", "ok", "accepts", door + "tcpflags = syn\ntcpflags = !ack,fin\n"},
	{"ok-same-name", "ok", "accepts", door + door},
	{"ok-options-only-door", "ok", "accepts", "[options]\ninterface = eth0\n" + door},
	{"ok-32-steps", "ok", "accepts", "[door]\nsequence = " + steps(32) + "\n"},
	{"ok-ipv6-target", "ok", "accepts", door + "target = 2001:db8::1\n"},
	{"ok-grant", "ok", "refuses", door + "grant = tcp/22,udp/53\n"},

	// Refused by both.
	{"bad-no-section", "line 3: outside any section", "refuses", "sequence = 1\n"},
	{"bad-empty-section", "line 3: bad section name", "refuses", "[]\n" + door},
	{"bad-no-sequence", "line 3: empty knock sequence", "refuses", "[door]\ncommand = true\n"},
	{"bad-no-equals", "line 5: expected key = value", "refuses", door + "seq_timeout 5\n"},
	{"bad-usesyslog-value", "line 4: unknown option", "refuses", "[options]\nusesyslog = yes\n" + door},
	{"bad-unknown-option", "line 4: unknown option", "refuses", "[options]\nverbose = 1\n" + door},
	{"bad-door-key-in-options", "line 4: unknown option", "refuses", "[options]\nsequence = 1,2\n" + door},
	{"bad-option-in-door", "line 5: unknown key", "refuses", door + "logfile = /tmp/x\n"},
	{"bad-unknown-key", "line 5: unknown key", "refuses", door + "sequense = 1,2,3\n"},
	{"bad-protocol", "line 4: protocol", "refuses", "[door]\nsequence = 7000:icmp\n"},
	{"bad-33-steps", "line 4: more than 32", "refuses", "[door]\nsequence = " + steps(33) + "\n"},
	{"bad-port-too-big", "line 4: port", "refuses", "[door]\nsequence = 7000,65536\n"},
	{"bad-flag", "line 5: flag", "refuses", door + "tcpflags = syn,xmas\n"},
	{"bad-flag-space", "line 5: flag", "refuses", door + "tcpflags = syn, ack\n"},
	{"bad-flag-empty", "line 5: flag", "refuses", door + "tcpflags = syn,\n"},
	{"bad-one-time-missing", "line 5: One_Time_Sequences", "refuses", door + "one_time_sequences = /nonexistent/knockd-sequences\n"},

	// Refused by us, misread by knockd (atoi, string compares).
	{"bad-port-word", "line 4: port", "accepts", "[door]\nsequence = ssh\n"},
	{"bad-port-empty-step", "line 4: port", "accepts", "[door]\nsequence = 7000,,8000\n"},
	{"bad-port-trailing-comma", "line 4: port", "accepts", "[door]\nsequence = 7000,8000,\n"},
	{"bad-port-zero", "line 4: port", "accepts", "[door]\nsequence = 0,8000\n"},
	{"bad-port-negative", "line 4: port", "accepts", "[door]\nsequence = -1\n"},
	{"bad-inline-comment", "line 4: port", "accepts", "[door]\nsequence = 7000,8000 # was 6000\n"},
	{"bad-third-field", "line 4: protocol", "accepts", "[door]\nsequence = 7000:tcp:x\n"},
	{"bad-empty-sequence", "line 4: port", "accepts", "[door]\nsequence =\n"},
	{"bad-timeout-unit", "line 5: expected whole seconds", "accepts", door + "seq_timeout = 10s\n"},
	{"bad-timeout-negative", "line 5: expected whole seconds", "accepts", door + "cmd_timeout = -5\n"},
	{"bad-target-name", "line 5: expected an IP address", "refuses", door + "target = gate.example.org\n"},
	{"bad-target-form", "line 5: not written as knockd compares it", "accepts", door + "target = 2001:DB8::1\n"},
	{"bad-grant", "line 5: expected tcp/port", "refuses", door + "grant = 22\n"},
	{"bad-grant-proto", "line 5: protocol", "refuses", door + "grant = sctp/22\n"},
}

func steps(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint(1000 + i)
	}
	return strings.Join(s, ",")
}

func main() {
	for _, v := range vectors {
		text := fmt.Sprintf("# want: %s\n# knockd: %s\n%s", v.want, v.knockd, v.body)
		if err := os.WriteFile(v.name+".conf", []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
