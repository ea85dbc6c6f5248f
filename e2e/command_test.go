package e2e

import (
	"strings"
	"testing"
	"time"
)

// The command firewall is idempotent per grant: a knock repeated while
// its grant is open extends it, the open command runs once and the close
// command once, and no iptables rule is left behind.
func TestCommandFirewallLeavesNoRule(t *testing.T) {
	l := newLab(t)
	// The host drops tcp/22 with iptables; the open command puts an
	// ACCEPT before that.
	l.pair.Host.MustRun("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "DROP")
	conf := l.conf("knock.conf", legacyConf(`
iv           = yes
runmode      = network
capture      = nflog
firewall     = command
opencommand  = iptables -I INPUT -s %IP% -p tcp --dport %PORT% -j ACCEPT
closecommand = iptables -D INPUT -s %IP% -p tcp --dport %PORT% -j ACCEPT
replayfile   = `+l.dir+`/state/replay
`))
	l.daemon(conf, l.nflogReady)
	host := l.pair.HostV4
	if l.canConnect(host, 22) {
		t.Fatal("port 22 open before the knock")
	}
	l.knock(conf)
	l.waitConnect(host, 22, true, 3*time.Second)
	l.knock(conf) // again, while open: extends, never a second rule
	time.Sleep(500 * time.Millisecond)
	rules := l.pair.Host.MustRun("iptables", "-S", "INPUT")
	if n := strings.Count(rules, "10.77.0.2/32"); n != 1 {
		t.Fatalf("%d ACCEPT rules for the client after two knocks, want 1:\n%s", n, rules)
	}
	deadline := time.Now().Add(grant + 10*time.Second)
	for strings.Contains(l.pair.Host.MustRun("iptables", "-S", "INPUT"), "10.77.0.2/32") {
		if time.Now().After(deadline) {
			t.Fatalf("the ACCEPT rule outlived its grant:\n%s", l.pair.Host.MustRun("iptables", "-S", "INPUT"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
