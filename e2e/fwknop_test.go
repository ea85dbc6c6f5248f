package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
)

// fwknopClient runs Debian's fwknop client in the client namespace with
// args, and returns the SPA packet it sent ("Final SPA Data").
func (l *lab) fwknopClient(args ...string) string {
	l.t.Helper()
	base := []string{"fwknop", "-v", "--no-save-args", "--no-rc-file"}
	cmd := l.pair.Client.Command(base[0], append(base[1:], args...)...)
	cmd.Env = []string{"HOME=" + l.t.TempDir(), "PATH=/usr/bin:/bin:/usr/sbin:/sbin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.t.Fatalf("fwknop %v: %v\n%s", args, err, out)
	}
	m := regexp.MustCompile(`(?m)^\s*Final SPA Data: (\S+)\s*$`).FindStringSubmatch(string(out))
	if m == nil {
		l.t.Fatalf("fwknop printed no packet:\n%s", out)
	}
	return m[1]
}

// sendUDP sends payload from the client namespace to host:port.
func (l *lab) sendUDP(host netip.Addr, port int, payload string) {
	l.t.Helper()
	err := l.pair.Client.Do(func() error {
		c, err := net.Dial("udp", netip.AddrPortFrom(host, uint16(port)).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(payload))
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
}

func randomKey(t *testing.T) string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// The real fwknop client opens tcp/22 on a host guarded by knockdaemon
// reading an unmodified access.conf with two stanzas, over IPv4 and IPv6;
// the grant ends after FW_ACCESS_TIMEOUT; the same packet sent again is
// refused, also after a restart; a port outside OPEN_PORTS stays closed.
func TestFwknopClientOpens(t *testing.T) {
	if _, err := exec.LookPath("fwknop"); err != nil {
		testenv.Missing(t, "the fwknop client", err, "apt-get install fwknop-client")
	}
	l := newLab(t)
	l.serve(8080)
	key, hkey := randomKey(t), randomKey(t)
	access := l.conf("access.conf", `# two stanzas: the first is for another network and other keys
SOURCE              192.0.2.0/24
KEY_BASE64          `+randomKey(t)+`
HMAC_KEY_BASE64     `+randomKey(t)+`
OPEN_PORTS          tcp/22

SOURCE              ANY
OPEN_PORTS          tcp/22
KEY_BASE64          `+key+`
HMAC_KEY_BASE64     `+hkey+`
FW_ACCESS_TIMEOUT   3
`)
	conf := l.conf("fwknop.conf", `
mode         = none
fwknopaccess = `+access+`
protected    = tcp/22, tcp/8080
runmode      = network
capture      = nflog
replayfile   = `+l.dir+`/state/replay
`)
	d := l.daemon(conf, l.nflogReady)
	host := l.pair.HostV4
	if l.canConnect(host, 22) {
		t.Fatal("port 22 open before the knock")
	}
	client := func(dst, addr, ports string) string {
		return l.fwknopClient("-A", ports, "-a", addr, "-D", dst, "--use-hmac",
			"--key-base64-rijndael", key, "--key-base64-hmac", hkey)
	}
	pkt := client(host.String(), l.pair.ClientV4.String(), "tcp/22")
	t.Logf("fwknop client: opened after %v", l.waitConnect(host, 22, true, 3*time.Second))
	l.waitConnect(host, 22, false, 10*time.Second) // FW_ACCESS_TIMEOUT 3

	l.sendUDP(host, 62201, pkt) // replayed
	l.refused(d, "replay", "a replayed fwknop packet")

	// A restart keeps the claim: the same packet is still refused.
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d = l.daemon(conf, l.nflogReady)
	l.sendUDP(host, 62201, pkt)
	time.Sleep(time.Second)
	if l.canConnect(host, 22) {
		t.Fatal("a replayed fwknop packet opened the port after a restart")
	}
	if strings.Count(d.out.String(), "reason=replay") != 1 {
		t.Fatalf("the restarted daemon did not refuse the replay:\n%s", d.out.String())
	}

	client(host.String(), l.pair.ClientV4.String(), "tcp/8080") // not in OPEN_PORTS
	time.Sleep(time.Second)
	if l.canConnect(host, 8080) {
		t.Fatal("a port outside OPEN_PORTS opened")
	}
	if !strings.Contains(d.out.String(), "reason=port") {
		t.Fatalf("the daemon did not say why tcp/8080 stayed closed:\n%s", d.out.String())
	}

	// IPv6: the fwknop 2.6 client neither sends over IPv6 nor writes an
	// IPv6 address into a packet. Its packet asking for the source address
	// (-s), made in test mode (-T, not sent), goes over IPv6 all the same,
	// and the daemon opens the port to the sender, fd77::2.
	pkt6 := l.fwknopClient("-T", "-A", "tcp/22", "-s", "-D", host.String(), "--use-hmac",
		"--key-base64-rijndael", key, "--key-base64-hmac", hkey)
	l.sendUDP(l.pair.HostV6, 62201, pkt6)
	t.Logf("fwknop client over IPv6: opened after %v", l.waitConnect(l.pair.HostV6, 22, true, 3*time.Second))
}
