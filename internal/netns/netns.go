// Package netns creates and removes network namespaces and veth pairs
// with iproute2, and runs code inside them. The tests use it through
// package netnstest; the demo uses it directly.
package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// NS is one network namespace.
type NS struct {
	Name string
}

var counter atomic.Int64

// New creates a namespace named knk<pid>-<n>-<role> with loopback up.
func New(role string) (*NS, error) {
	name := fmt.Sprintf("knk%d-%d-%s", os.Getpid(), counter.Add(1), role)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	ns := &NS{Name: name}
	if _, err := ns.Run("ip", "link", "set", "lo", "up"); err != nil {
		ns.Delete()
		return nil, err
	}
	return ns, nil
}

// Delete kills what runs inside the namespace and removes it.
func (n *NS) Delete() {
	if pids, err := exec.Command("ip", "netns", "pids", n.Name).Output(); err == nil {
		for _, p := range strings.Fields(string(pids)) {
			exec.Command("kill", "-9", p).Run()
		}
	}
	exec.Command("ip", "netns", "del", n.Name).Run()
}

// Run runs a command inside the namespace and returns its combined output.
func (n *NS) Run(args ...string) (string, error) {
	out, err := n.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s: %v: %s", n.Name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Command returns a command that will run inside the namespace.
func (n *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Path is the namespace's file, for APIs that take a namespace fd.
func (n *NS) Path() string { return "/run/netns/" + n.Name }

// Open returns a file descriptor of the namespace (for example for
// nftables.WithNetNSFd); the caller closes it.
func (n *NS) Open() (int, error) {
	return unix.Open(n.Path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// Do runs f on an OS thread switched into the namespace. Sockets f opens
// belong to the namespace and stay there after Do returns. The thread is
// switched back before it is released.
func (n *NS) Do(f func() error) error {
	target, err := n.Open()
	if err != nil {
		return err
	}
	defer unix.Close(target)
	if err := InFd(target, f); err != nil {
		return fmt.Errorf("namespace %s: %w", n.Name, err)
	}
	return nil
}

// InFd runs f on an OS thread switched into the network namespace the
// descriptor fd refers to, as Do does; the thread is switched back before
// it is released.
func InFd(fd int, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread is in the wrong namespace: never unlock it, so
			// the runtime retires it with the goroutine.
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Pair is a host and a client joined by veth, each end named eth0.
type Pair struct {
	Host, Client     *NS
	HostV4, ClientV4 netip.Addr
	HostV6, ClientV6 netip.Addr
}

// NewPair creates two namespaces joined by a veth pair, with 10.77.0.1
// (host) and 10.77.0.2 (client), fd77::1 and fd77::2, links up and IPv6
// duplicate address detection off so addresses work at once.
func NewPair() (*Pair, error) {
	p := &Pair{
		HostV4: netip.MustParseAddr("10.77.0.1"), ClientV4: netip.MustParseAddr("10.77.0.2"),
		HostV6: netip.MustParseAddr("fd77::1"), ClientV6: netip.MustParseAddr("fd77::2"),
	}
	var err error
	if p.Host, err = New("host"); err != nil {
		return nil, err
	}
	if p.Client, err = New("client"); err != nil {
		p.Host.Delete()
		return nil, err
	}
	if err := p.link(); err != nil {
		p.Delete()
		return nil, err
	}
	return p, nil
}

func (p *Pair) link() error {
	if out, err := exec.Command("ip", "-n", p.Host.Name, "link", "add", "eth0", "type", "veth",
		"peer", "name", "eth0", "netns", p.Client.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("creating veth: %v: %s", err, out)
	}
	for _, side := range []struct {
		ns     *NS
		v4, v6 netip.Addr
	}{{p.Host, p.HostV4, p.HostV6}, {p.Client, p.ClientV4, p.ClientV6}} {
		for _, args := range [][]string{
			{"sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.eth0.accept_dad=0"},
			{"ip", "addr", "add", side.v4.String() + "/24", "dev", "eth0"},
			{"ip", "addr", "add", side.v6.String() + "/64", "dev", "eth0", "nodad"},
			{"ip", "link", "set", "eth0", "up"},
		} {
			if _, err := side.ns.Run(args...); err != nil {
				return err
			}
		}
	}
	return p.waitLink()
}

// waitLink waits until the client reaches the host over IPv4 and IPv6.
func (p *Pair) waitLink() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err4 := p.Client.Run("ping", "-c1", "-W1", p.HostV4.String())
		_, err6 := p.Client.Run("ping", "-6", "-c1", "-W1", p.HostV6.String())
		if err4 == nil && err6 == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("veth link between %s and %s never came up: %w", p.Host.Name, p.Client.Name, errors.Join(err4, err6))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Delete removes both namespaces.
func (p *Pair) Delete() {
	if p.Client != nil {
		p.Client.Delete()
	}
	if p.Host != nil {
		p.Host.Delete()
	}
}
