package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/source/ebpf"
)

// The eBPF first stage end to end: with capture = auto on a kernel that
// allows it, the daemon attaches XDP to the host's interface, a sealed
// knock over the span and an SPA datagram each open the port, the span
// never answers, and stopping the daemon detaches the program.
func TestEBPFCaptureOpens(t *testing.T) {
	l := newLab(t)
	if err := ebpf.Supported(); err != nil {
		t.Fatalf("this kernel cannot run the eBPF first stage, which CI's machines can: %v", err)
	}
	conf := l.sealedConf("10.77.0.1", "10.77.0.2")
	body, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.Replace(string(body), "capture      = nflog", "capture      = auto", 1)), 0o600)
	d := l.daemon(conf, nil)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(d.out.String(), "eBPF first stage attached") {
		if time.Now().After(deadline) {
			t.Fatalf("capture = auto did not attach the eBPF first stage:\n%s", d.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out := l.pair.Host.MustRun("ip", "link", "show", "eth0"); !strings.Contains(out, "xdp") {
		t.Fatalf("no XDP program on eth0:\n%s", out)
	}
	host := l.pair.HostV4
	if l.canConnect(host, 22) {
		t.Fatal("port 22 open before the knock")
	}
	l.knock(conf)
	t.Logf("sealed knock through the eBPF first stage: opened after %v", l.waitConnect(host, 22, true, 3*time.Second))
	l.waitConnect(host, 22, false, grant+5*time.Second)
	l.knock(conf, "-spa")
	t.Logf("SPA datagram through the eBPF first stage: opened after %v", l.waitConnect(host, 22, true, 3*time.Second))

	d.cmd.Process.Signal(os.Interrupt)
	d.cmd.Wait()
	if out := l.pair.Host.MustRun("ip", "link", "show", "eth0"); strings.Contains(out, "xdp") {
		t.Fatalf("the XDP program stayed attached after the daemon stopped:\n%s", out)
	}
}
