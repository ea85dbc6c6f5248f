package fwknop_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
)

var clientField = regexp.MustCompile(`(?m)^\s*([A-Za-z ]+): (.*)$`)

// TestLiveClient runs Debian's fwknop client now, with fresh random keys,
// sending to a UDP socket of this test on loopback, and decides the
// datagrams it receives at the current time: what the client says (-v)
// it put in each packet must be what the matcher reads out of it.
func TestLiveClient(t *testing.T) {
	bin := testenv.NeedCommand(t, "fwknop", "apt-get install fwknop-client")
	type tc struct {
		name   string
		args   []string
		stanza string
		legacy bool
		addr   string
		ports  string
		dur    time.Duration
	}
	cases := []tc{
		{name: "sha256", args: []string{"-A", "tcp/22", "-a", "192.0.2.9"}, addr: "192.0.2.9", ports: "tcp/22", dur: 30 * time.Second},
		{name: "source", args: []string{"-A", "tcp/22,udp/53", "-s"}, addr: "127.0.0.1", ports: "tcp/22 udp/53", dur: 30 * time.Second},
		{name: "timeout", args: []string{"-A", "udp/1194", "-a", "192.0.2.9", "--fw-timeout", "77"}, addr: "192.0.2.9", ports: "udp/1194", dur: 77 * time.Second},
		{name: "legacy", args: []string{"-A", "tcp/22", "-s", "-M", "legacy"}, stanza: "ENCRYPTION_MODE legacy\n", legacy: true, addr: "127.0.0.1", ports: "tcp/22", dur: 30 * time.Second},
	}
	for _, d := range []string{"md5", "sha1", "sha384", "sha512", "sha3_256", "sha3_512"} {
		cases = append(cases, tc{name: "hmac-" + d, args: []string{"-A", "tcp/22", "-s", "--hmac-digest-type", d, "-m", d},
			stanza: "HMAC_DIGEST_TYPE " + d + "\n", addr: "127.0.0.1", ports: "tcp/22", dur: 30 * time.Second})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key, hkey := randomKey(32), randomKey(64)
			conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			port := strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port)
			args := []string{"-v", "--no-save-args", "--no-rc-file", "-D", "127.0.0.1", "-p", port, "-U", "live", "--key-base64-rijndael", key}
			conf := "SOURCE ANY\nKEY_BASE64 " + key + "\n" + c.stanza
			if !c.legacy {
				args = append(args, "--key-base64-hmac", hkey)
				conf += "HMAC_KEY_BASE64 " + hkey + "\n"
			}
			cmd := exec.Command(bin, append(args, c.args...)...)
			cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("fwknop: %v\n%s", err, out)
			}
			said := map[string]string{}
			for _, m := range clientField.FindAllStringSubmatch(string(out), -1) {
				if k := strings.TrimSpace(m[1]); said[k] == "" {
					said[k] = strings.TrimSpace(m[2])
				}
			}
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			buf := make([]byte, 2048)
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("no datagram from the client: %v\n%s", err, out)
			}
			if string(buf[:n]) != said["Final SPA Data"] {
				t.Fatalf("sent %q, printed %q", buf[:n], said["Final SPA Data"])
			}
			m := matcher(t, conf)
			a, err := m.Match(buf[:n], from.Addr(), netip.MustParseAddr("127.0.0.1"), time.Now())
			if err != nil {
				t.Fatalf("refused: %v\nclient said:\n%s", err, out)
			}
			var ports []string
			for _, p := range a.Ports {
				ports = append(ports, p.String())
			}
			got := fmt.Sprintf("%s %s %s %v %d", a.User, a.Addr, strings.Join(ports, " "), a.Duration, a.Timestamp.Unix())
			want := fmt.Sprintf("live %s %s %v %s", c.addr, c.ports, c.dur, said["Timestamp"])
			if got != want {
				t.Fatalf("decoded %q, want %q", got, want)
			}
			if ms := said["Message String"]; !strings.HasSuffix(ms, ","+strings.ReplaceAll(c.ports, " ", ",")) {
				t.Fatalf("the client says it asked for %q", ms)
			}
		})
	}
}

func randomKey(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
