package e2e

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
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

// TestEBPFInTheNamedNamespace: a daemon in this process, told to work in
// a namespace by its descriptor (as knockdemo and the benchmarks run it),
// attaches the eBPF first stage to that namespace's interface, never to
// the caller's own (it once did: SourceOptions.NetNSFd reached only NFLOG).
func TestEBPFInTheNamedNamespace(t *testing.T) {
	testenv.NeedRoot(t)
	if err := ebpf.Supported(); err != nil {
		t.Fatalf("this kernel cannot run the eBPF first stage, which CI's machines can: %v", err)
	}
	pair := netnstest.NewPair(t)
	rootBefore := xdpLinks(t)
	_, set, fd := inProcessSealed(t, pair, "capture ebpf\ninterface eth0\n")
	d, err := daemon.New(set, daemon.Options{Log: slog.New(slog.DiscardHandler),
		Backend: daemon.BackendOptions{NetNSFd: fd}, Source: daemon.SourceOptions{NetNSFd: fd}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(pair.Host.MustRun("ip", "link", "show", "eth0"), "xdp") {
		select {
		case err := <-done:
			t.Fatalf("the daemon stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("no XDP program on the namespace's eth0")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rootDuring := xdpLinks(t)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if !slices.Equal(rootBefore, rootDuring) {
		t.Errorf("XDP programs of this process's own namespace changed while the daemon ran: %v, then %v", rootBefore, rootDuring)
	}
	if out := pair.Host.MustRun("ip", "link", "show", "eth0"); strings.Contains(out, "xdp") {
		t.Errorf("the XDP program stayed attached after the daemon stopped:\n%s", out)
	}
}

// xdpLinks lists the lines of `ip -o link` in this process's namespace
// that carry an XDP program (reading only).
func xdpLinks(t *testing.T) []string {
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var links []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "xdp") {
			links = append(links, strings.Fields(l)[1])
		}
	}
	return links
}
