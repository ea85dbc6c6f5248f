package e2e

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
)

// usersConf is a daemon with two users: alice may open tcp/22 from the
// client's IPv4 network, bob tcp/8080 from anywhere.
func (l *lab) usersConf(withBob bool) string {
	body := `
mode          = sealed
portspan      = 40000-40255
protected     = tcp/22, tcp/8080
server        = gate1
duration      = 1m
runmode       = network
capture       = nflog
replayfile    = ` + l.dir + `/state/replay
controlsocket = ` + l.dir + `/run/control.sock
<user alice>
    keyfile = ` + l.dir + `/alice.key
    allow   = tcp/22
    from    = 10.77.0.0/24
</user>
`
	if withBob {
		body += `<user bob>
    keyfile = ` + l.dir + `/bob.key
    allow   = tcp/8080
</user>
`
	}
	return l.conf("users.conf", body)
}

// clientConf is one user's knockclient file.
func (l *lab) clientConf(user, remote string, port int) string {
	return l.conf(user+"-"+remote+".conf", `
mode     = sealed
user     = `+user+`
server   = gate1
keyfile  = `+l.dir+`/`+user+`.key
portspan = 40000-40255
remote   = `+remote+`
port     = `+strconv.Itoa(port)+`
timeout  = 0.02
`)
}

// Two users, two keys, two clients: each opens only what it may, from
// where it may; -list shows both grants; -revoke alice closes hers while
// bob's connection keeps working; a reload that removes bob ends his.
// The wrong key's line is what the shipped fail2ban filter bans.
func TestTwoUsers(t *testing.T) {
	l := newLab(t)
	l.serve(8080)
	for _, u := range []string{"alice", "bob", "mallory"} {
		l.knockIn(l.pair.Host, "-keygen", "-keyfile", filepath.Join(l.dir, u+".key"))
	}
	conf := l.usersConf(true)
	d := l.daemon(conf, l.nflogReady)
	host, host6 := l.pair.HostV4, l.pair.HostV6

	l.knock(l.clientConf("alice", host.String(), 8080))
	l.refused(d, "port", "alice asking for tcp/8080")
	l.knock(l.clientConf("bob", host.String(), 22))
	l.refused(d, "port", "bob asking for tcp/22")

	l.knock(l.clientConf("alice", host.String(), 22))
	l.waitConnect(host, 22, true, 3*time.Second)
	l.knock(l.clientConf("bob", host.String(), 8080))
	l.waitConnect(host, 8080, true, 3*time.Second)
	if l.canConnect(host, 8080) && !strings.Contains(d.out.String(), "user=bob") {
		t.Fatalf("the daemon's log does not name bob:\n%s", d.out.String())
	}

	// alice from outside her networks (IPv6) is refused.
	l.knock(l.clientConf("alice", host6.String(), 22))
	time.Sleep(time.Second)
	if l.canConnect(host6, 22) {
		t.Fatal("alice opened tcp/22 from outside her networks")
	}
	if !strings.Contains(d.out.String(), "reason=source") {
		t.Fatalf("no reason=source for alice over IPv6:\n%s", d.out.String())
	}

	// -list shows both grants with their users.
	out, err := exec.Command(filepath.Join(bin, "knockdaemon"), "-conf", conf, "-list", "-json").CombinedOutput()
	if err != nil {
		t.Fatalf("-list: %v\n%s", err, out)
	}
	var grants []struct{ User, Address, Port string }
	if err := json.Unmarshal(out, &grants); err != nil {
		t.Fatalf("-list -json printed %q: %v", out, err)
	}
	seen := map[string]string{}
	for _, g := range grants {
		seen[g.User] = g.Address + " " + g.Port
	}
	if seen["alice"] != "10.77.0.2 tcp/22" || seen["bob"] != "10.77.0.2 tcp/8080" {
		t.Fatalf("-list: %s", out)
	}

	// bob's connection, open across the revocation of alice.
	var bobConn net.Conn
	l.pair.Client.Do(func() (err error) {
		bobConn, err = net.DialTimeout("tcp", host.String()+":8080", time.Second)
		return err
	})
	if bobConn == nil {
		t.Fatal("bob could not connect")
	}
	defer bobConn.Close()
	if out, err := exec.Command(filepath.Join(bin, "knockdaemon"), "-conf", conf, "-revoke", "alice").CombinedOutput(); err != nil || !strings.Contains(string(out), "1 grant") {
		t.Fatalf("-revoke alice: %v\n%s", err, out)
	}
	l.waitConnect(host, 22, false, 3*time.Second)
	echo := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("y")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 1))
		return err
	}
	if err := echo(bobConn); err != nil || !l.canConnect(host, 8080) {
		t.Fatalf("revoking alice broke bob's access: %v", err)
	}

	// A reload without bob ends his grant.
	l.usersConf(false)
	d.cmd.Process.Signal(syscall.SIGHUP)
	l.waitConnect(host, 8080, false, 5*time.Second)

	// A wrong key: refused, logged with the source in the line fail2ban
	// reads, and the shipped filter matches it.
	wrong := l.clientConf("mallory", host.String(), 22)
	body, _ := os.ReadFile(wrong)
	os.WriteFile(wrong, []byte(strings.Replace(string(body), "user     = mallory", "user     = alice", 1)), 0o600)
	l.knock(wrong, "-spa")
	l.refused(d, "auth", "a knock with the wrong key")
	checkFail2ban(t, d.out.String(), "10.77.0.2")
}

// checkFail2ban runs Debian's fail2ban-regex with the shipped filter over
// the daemon's real log and expects the wrong key's line, and only it.
func checkFail2ban(t *testing.T, log, host string) {
	t.Helper()
	bin, err := exec.LookPath("fail2ban-regex")
	if err != nil {
		testenv.Missing(t, "fail2ban-regex", err, "apt-get install fail2ban")
	}
	file := filepath.Join(t.TempDir(), "knockdaemon.log")
	os.WriteFile(file, []byte(log), 0o600)
	out, err := exec.Command(bin, "--print-all-matched", file, "../examples/fail2ban/filter.d/knockdaemon.conf").CombinedOutput()
	if err != nil {
		t.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, host) || !strings.Contains(text, "1 matched") {
		t.Fatalf("the fail2ban filter did not match the wrong key's line once (for %s):\n%s\nlog:\n%s", host, text, log)
	}
}
