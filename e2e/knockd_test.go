package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
)

// knockdLab is a lab whose daemon serves only the doors of a knockd.conf.
type knockdLab struct {
	*lab
	knockdConf string // path of the knockd.conf
	conf       string // path of knockdaemon's own file
}

func newKnockdLab(t *testing.T, doors string) *knockdLab {
	if _, err := exec.LookPath("knock"); err != nil {
		testenv.Missing(t, "knockd's client, knock", err, "apt-get install knockd")
	}
	l := newLab(t)
	k := &knockdLab{lab: l}
	k.knockdConf = l.conf("knockd.conf", "[options]\n\tUseSyslog\n\n"+doors)
	k.conf = l.conf("knock.conf", fmt.Sprintf(`
mode       = none
knockdconf = %s
protected  = tcp/22
duration   = 3s
runmode    = network
capture    = nflog
replayfile = %s/state/replay
`, k.knockdConf, l.dir))
	return k
}

// knockd runs Debian's knock client in the client namespace.
func (k *knockdLab) knockd(args ...string) {
	k.t.Helper()
	out, err := k.pair.Client.Command("knock", append([]string{"-d", "20"}, args...)...).CombinedOutput()
	if err != nil {
		k.t.Fatalf("knock %v: %v\n%s", args, err, out)
	}
}

// waitFile polls until path exists (or not).
func waitFile(t *testing.T, path string, exists bool, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		_, err := os.Stat(path)
		if (err == nil) == exists {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: exists=%v still not true after %v", path, exists, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// knockd's client opens a door whose Start_Command creates a file and
// whose Stop_Command removes it Cmd_Timeout later, over IPv4 and IPv6; a
// wrong order runs nothing.
func TestKnockdCommands(t *testing.T) {
	dir := t.TempDir()
	k := newKnockdLab(t, fmt.Sprintf(`[files]
	sequence      = 7000,8000:udp,9000
	seq_timeout   = 10
	tcpflags      = syn
	start_command = touch %[1]s/open-%%IP%%
	cmd_timeout   = 2
	stop_command  = rm %[1]s/open-%%IP%%
`, dir))
	d := k.daemon(k.conf, k.nflogReady)

	// The first step starts an attempt, the wrong second ends it, and the
	// rest is no first step: nothing is left in progress.
	k.knockd(k.pair.HostV4.String(), "7000", "9000", "8000:udp")
	time.Sleep(time.Second)
	if m, _ := filepath.Glob(dir + "/open-*"); len(m) > 0 {
		t.Fatalf("a wrong order ran the start command: %v", m)
	}

	for _, host := range []netip.Addr{k.pair.HostV4, k.pair.HostV6} {
		flag := "-4"
		src := k.pair.ClientV4
		if host.Is6() {
			flag, src = "-6", k.pair.ClientV6
		}
		k.knockd(flag, host.String(), "7000", "8000:udp", "9000")
		f := filepath.Join(dir, "open-"+src.String())
		waitFile(t, f, true, 5*time.Second)
		t.Logf("%s: start command ran", src)
		waitFile(t, f, false, 10*time.Second)
		t.Logf("%s: stop command ran after Cmd_Timeout", src)
	}
	if !strings.Contains(d.out.String(), "knockd: files: running command") {
		t.Errorf("the daemon did not log the commands:\n%s", d.out.String())
	}
}

// A door with Grant = tcp/22 opens the port in nftables for the knocker,
// and the kernel closes it on time although the daemon was SIGKILLed. The
// stop command still pending when the daemon was killed is reported at the
// next start.
func TestKnockdGrantSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	k := newKnockdLab(t, fmt.Sprintf(`[ssh]
	sequence      = 7001:udp,7002,7003
	grant         = tcp/22
	cmd_timeout   = 3
	start_command = true
	stop_command  = touch %s/never
`, dir))
	d := k.daemon(k.conf, k.nflogReady)
	if k.canConnect(k.pair.HostV4, 22) {
		t.Fatal("port 22 open before the knock")
	}
	k.knockd(k.pair.HostV4.String(), "7001:udp", "7002", "7003")
	k.waitConnect(k.pair.HostV4, 22, true, 3*time.Second)
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.cmd.Wait()
	if !k.canConnect(k.pair.HostV4, 22) {
		t.Fatal("the grant ended with the daemon, before its time")
	}
	k.waitConnect(k.pair.HostV4, 22, false, 3*time.Second+5*time.Second)
	t.Log("closed on time with no daemon running")

	d2 := k.daemon(k.conf, k.nflogReady)
	waitLog(t, d2, "a knockd stop command was never run")
}

// A one-time sequence opens once, and the file is rewritten as knockd
// does; the next line opens after it. SIGHUP reloads the knockd.conf.
func TestKnockdOneTimeAndReload(t *testing.T) {
	dir := t.TempDir()
	otp := filepath.Join(dir, "otp")
	os.WriteFile(otp, []byte("7100,7200\n7300,7400\n"), 0o600)
	door := func(name, seq string) string {
		return fmt.Sprintf(`[once]
	one_time_sequences = %[1]s
	start_command      = sh -c 'echo %%IP%% >> %[2]s/once'
[%[3]s]
	sequence           = %[4]s
	start_command      = touch %[2]s/%[3]s
`, otp, dir, name, seq)
	}
	k := newKnockdLab(t, door("before", "7500,7600"))
	d := k.daemon(k.conf, k.nflogReady)
	host := k.pair.HostV4.String()

	k.knockd(host, "7100", "7200")
	waitFile(t, filepath.Join(dir, "once"), true, 5*time.Second)
	waitFileText(t, otp, "#100,7200\n7300,7400\n")
	k.knockd(host, "7100", "7200") // used: nothing
	k.knockd(host, "7300", "7400")
	waitFileText(t, otp, "#100,7200\n#300,7400\n")
	if b, _ := os.ReadFile(filepath.Join(dir, "once")); strings.Count(string(b), "\n") != 2 {
		t.Fatalf("the one-time door ran %q, not twice", b)
	}

	k.knockd(host, "7500", "7600")
	waitFile(t, filepath.Join(dir, "before"), true, 5*time.Second)
	// A knockd.conf whose one-time file is used up does not load (knockd
	// refuses it too): give it a line before the reload.
	os.WriteFile(otp, []byte("#100,7200\n#300,7400\n7900,7950\n"), 0o600)
	os.WriteFile(k.knockdConf, []byte("[options]\n\tUseSyslog\n\n"+door("after", "7700:udp,7800")), 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "configuration reloaded")
	// The source is replaced after the reload is logged: wait for the
	// new rule, which watches 7800.
	deadline := time.Now().Add(5 * time.Second)
	for out, _ := k.pair.Host.Run("nft", "-nn", "list", "table", "inet", "portknock_log_7"); !strings.Contains(out, "7800"); out, _ = k.pair.Host.Run("nft", "-nn", "list", "table", "inet", "portknock_log_7") {
		if time.Now().After(deadline) {
			t.Fatalf("the reloaded source does not watch 7800:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	k.knockd(host, "7700:udp", "7800")
	waitFile(t, filepath.Join(dir, "after"), true, 5*time.Second)
}

func waitFileText(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", path, b, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A door on the ports of live services, matching on FIN (TCPFlags = fin):
// two ordinary connections, to 7010 then 7011, are its knock. The
// daemon's capture (silent, as by default) lets the connections through,
// every segment is seen with its flags, and the door grants tcp/22.
func TestKnockdFlagsOnLiveServices(t *testing.T) {
	k := newKnockdLab(t, `[fin]
	sequence = 7010,7011
	tcpflags = fin
	grant    = tcp/22
`)
	k.serve(7010)
	k.serve(7011)
	k.daemon(k.conf, k.nflogReady)
	if k.canConnect(k.pair.HostV4, 22) {
		t.Fatal("port 22 open before the knock")
	}
	for _, port := range []int{7010, 7011} {
		if !k.canConnect(k.pair.HostV4, port) {
			t.Fatalf("the service on the door's port %d is unreachable", port)
		}
	}
	k.waitConnect(k.pair.HostV4, 22, true, 3*time.Second)
}
