package netns

import (
	"fmt"
	"net/netip"
	"os/exec"
	"time"
)

// LAN is several hosts on one Ethernet segment: a namespace holding a
// Linux bridge, and one namespace per host joined to it by veth, each
// host's end named eth0 with an IPv4 address of 10.78.0.0/24.
type LAN struct {
	Switch *NS
	Hosts  []*Host
}

// Host is one namespace on a LAN.
type Host struct {
	*NS
	Role string
	Addr netip.Addr
}

// NewLAN creates a bridge namespace and one namespace per role, the i-th
// at 10.78.0.(i+1), links up, and waits until the first reaches the others.
func NewLAN(roles ...string) (*LAN, error) {
	if len(roles) == 0 || len(roles) > 250 {
		return nil, fmt.Errorf("a lan of %d hosts: need 1 to 250", len(roles))
	}
	l := &LAN{}
	var err error
	if l.Switch, err = New("lan"); err != nil {
		return nil, err
	}
	if _, err := l.Switch.Run("ip", "link", "add", "br0", "type", "bridge"); err != nil {
		l.Delete()
		return nil, err
	}
	if _, err := l.Switch.Run("ip", "link", "set", "br0", "up"); err != nil {
		l.Delete()
		return nil, err
	}
	for i, role := range roles {
		ns, err := New(role)
		if err != nil {
			l.Delete()
			return nil, err
		}
		h := &Host{NS: ns, Role: role, Addr: netip.AddrFrom4([4]byte{10, 78, 0, byte(i + 1)})}
		l.Hosts = append(l.Hosts, h)
		if err := l.join(h, i); err != nil {
			l.Delete()
			return nil, err
		}
	}
	if err := l.waitLinks(); err != nil {
		l.Delete()
		return nil, err
	}
	return l, nil
}

// Host returns the host of that role, or nil.
func (l *LAN) Host(role string) *Host {
	for _, h := range l.Hosts {
		if h.Role == role {
			return h
		}
	}
	return nil
}

// join links h to the bridge: eth0 in h, port<i> on the bridge.
func (l *LAN) join(h *Host, i int) error {
	port := fmt.Sprintf("port%d", i)
	if out, err := exec.Command("ip", "-n", l.Switch.Name, "link", "add", port, "type", "veth",
		"peer", "name", "eth0", "netns", h.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("creating veth to %s: %v: %s", h.Name, err, out)
	}
	for _, args := range [][]string{
		{"ip", "link", "set", port, "master", "br0"},
		{"ip", "link", "set", port, "up"},
	} {
		if _, err := l.Switch.Run(args...); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"ip", "addr", "add", h.Addr.String() + "/24", "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
	} {
		if _, err := h.Run(args...); err != nil {
			return err
		}
	}
	return nil
}

// waitLinks waits until the first host reaches every other over the
// bridge (which forwards as soon as its ports are up: no STP).
func (l *LAN) waitLinks() error {
	first := l.Hosts[0]
	for _, h := range l.Hosts[1:] {
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := first.Run("ping", "-c1", "-W1", h.Addr.String())
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s never reached %s over the bridge: %w", first.Name, h.Name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// Delete removes every namespace of the LAN.
func (l *LAN) Delete() {
	for _, h := range l.Hosts {
		h.Delete()
	}
	if l.Switch != nil {
		l.Switch.Delete()
	}
}
