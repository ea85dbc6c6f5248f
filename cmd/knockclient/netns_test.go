//go:build linux

package main

import (
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/client/clienttest"
	"github.com/portknock/knock/internal/netnstest"
	"github.com/portknock/knock/internal/testenv"
)

// nsPair builds the namespaces and finds the knockclient that TestMain
// put on PATH (this test binary, answering to that name).
func nsPair(t *testing.T) (*netnstest.Pair, string) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "apt-get install iproute2")
	bin, err := exec.LookPath("knockclient")
	if err != nil {
		t.Fatal(err)
	}
	return netnstest.NewPair(t), bin
}

// runIn runs knockclient in the client namespace and returns its output
// and exit status.
func runIn(t *testing.T, pair *netnstest.Pair, bin string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := pair.Client.Command(bin, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), status
}

func capture(t *testing.T, pair *netnstest.Pair) *clienttest.Capture {
	t.Helper()
	var c *clienttest.Capture
	if err := pair.Host.Do(func() (err error) { c, err = clienttest.OpenCapture("eth0"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func listen(t *testing.T, pair *netnstest.Pair, ap netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	if err := pair.Host.Do(func() (err error) { ln, err = net.Listen("tcp", ap.String()); return err }); err != nil {
		t.Error(err)
		return
	}
	t.Cleanup(func() { ln.Close() })
}

// TestBinaryOnTheWire: the prototype user's file, unchanged but for
// remote, knocks from the client namespace: eight single SYNs, in order.
func TestBinaryOnTheWire(t *testing.T) {
	pair, bin := nsPair(t)
	c := capture(t, pair)
	stdout, stderr, status := runIn(t, pair, bin, "-conf", original, "-remote", pair.HostV4.String(), "-timeout", "0.02")
	if status != exitOK {
		t.Fatalf("status %d: %s", status, stderr)
	}
	got := c.Collect(pair.ClientV4, len(v1), 300*time.Millisecond, 5*time.Second)
	var ports []uint16
	for _, p := range got {
		if p.Proto != "tcp" || p.Flags != clienttest.FlagSYN || p.Dst != pair.HostV4 {
			t.Fatalf("not a single SYN to the host: %v", p)
		}
		ports = append(ports, p.DstPort)
	}
	if !slices.Equal(ports, v1) {
		t.Fatalf("ports %v, want %v (client said %q)", ports, v1, stdout)
	}
}

// TestVerifyRetry: the port opens once the client has knocked and found
// it closed, as a daemon would open it; the client retries after 1 s and
// finds it open.
func TestVerifyRetry(t *testing.T) {
	pair, bin := nsPair(t)
	c := capture(t, pair)
	target := netip.AddrPortFrom(pair.HostV4, 22)
	opened := make(chan struct{})
	go func() {
		defer close(opened)
		for end := time.Now().Add(10 * time.Second); ; {
			p, ok := c.Next(end)
			if !ok {
				return
			}
			if p.Proto == "tcp" && p.DstPort == 22 && p.Flags == clienttest.FlagSYN {
				listen(t, pair, target) // after the first verify was refused
				return
			}
		}
	}()
	stdout, stderr, status := runIn(t, pair, bin, "-conf", original, "-remote", pair.HostV4.String(), "-timeout", "0", "-verify", "-retry", "3")
	<-opened
	if status != exitOK {
		t.Fatalf("status %d\nstdout %s\nstderr %s", status, stdout, stderr)
	}
	if !strings.Contains(stderr, "10.77.0.1:22 is closed; knocking again in 500ms (retry 1 of 3)") || !strings.HasSuffix(stdout, "10.77.0.1:22 is open\n") {
		t.Fatalf("stdout %q\nstderr %q", stdout, stderr)
	}
	if n := strings.Count(stdout, "knocked on 10.77.0.1"); n != 2 {
		t.Fatalf("%d knocks, want 2:\n%s", n, stdout)
	}
}

// TestVerifyIPv6Open: -verify over IPv6, with the port already open.
func TestVerifyIPv6Open(t *testing.T) {
	pair, bin := nsPair(t)
	listen(t, pair, netip.AddrPortFrom(pair.HostV6, 2222))
	stdout, stderr, status := runIn(t, pair, bin, "-conf", original, "-remote", pair.HostV6.String(), "-port", "2222",
		"-knock", "CLIENT,PORT16,FLAG0,CHECKSUM", "-timeout", "0", "-verify")
	if status != exitOK || !strings.Contains(stdout, "[fd77::1]:2222 is open") {
		t.Fatalf("status %d\nstdout %s\nstderr %s", status, stdout, stderr)
	}
}

// TestVerifyClosed: exit status 3 once the retries are spent.
func TestVerifyClosed(t *testing.T) {
	pair, bin := nsPair(t)
	_, stderr, status := runIn(t, pair, bin, "-conf", original, "-remote", pair.HostV4.String(), "-timeout", "0", "-verify", "-retry", "1")
	if status != exitClosed || !strings.Contains(stderr, "knockclient: port still closed: 10.77.0.1:22 after 2 knock(s)") {
		t.Fatalf("status %d: %s", status, stderr)
	}
}
