package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/engine"
	"github.com/portknock/knock/firewall"
	"github.com/portknock/knock/fleet"
)

// The control socket lets knockdaemon -list and -revoke reach the running
// daemon. It is a unix socket of mode 0600 in a folder of mode 0700, and
// every peer's credentials are checked: only the daemon's own user (root)
// may use it. One request per connection, one JSON object each way.

// ControlRequest is what -list and -revoke send.
type ControlRequest struct {
	Op  string `json:"op"`            // "list" or "revoke"
	Who string `json:"who,omitempty"` // revoke: a user name or an address
}

// ControlReply is the daemon's answer.
type ControlReply struct {
	Grants  []GrantInfo `json:"grants,omitempty"`
	Revoked int         `json:"revoked"`
	Error   string      `json:"error,omitempty"`
}

// GrantInfo is one grant in force, as -list shows it.
type GrantInfo struct {
	User     string    `json:"user"` // "" when the daemon did not make it (before a restart)
	Protocol string    `json:"protocol,omitempty"`
	Addr     string    `json:"address"`
	Port     string    `json:"port"`
	Opened   time.Time `json:"opened,omitzero"`
	Expires  time.Time `json:"expires"`
	Gate     string    `json:"gate,omitempty"` // in a fleet: the gate that accepted the knock
}

// serveControl listens on path until ctx ends.
func (d *Daemon) serveControl(ctx context.Context, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return d.set.Errorf("controlsocket", "%w", err)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return d.set.Errorf("controlsocket", "%q exists and is not a socket: move it away", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return d.set.Errorf("controlsocket", "%q is in use: another knockdaemon runs with it; give each daemon its own controlsocket", path)
		}
		os.Remove(path) // a socket left by a daemon that died
	}
	old := syscall.Umask(0o077)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return d.set.Errorf("controlsocket", "%w", err)
	}
	go func() { <-ctx.Done(); ln.Close(); os.Remove(path) }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go d.control(ctx, c.(*net.UnixConn))
		}
	}()
	return nil
}

func (d *Daemon) control(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if err := peerAllowed(c); err != nil {
		json.NewEncoder(c).Encode(ControlReply{Error: err.Error()})
		return
	}
	var req ControlRequest
	if err := json.NewDecoder(io.LimitReader(bufio.NewReader(c), 4096)).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(ControlReply{Error: "a request is one JSON object"})
		return
	}
	var rep ControlReply
	switch req.Op {
	case "list":
		rep.Grants = d.listGrants(ctx)
		if d.fleet != nil {
			fg, err := d.fleetGrants(ctx)
			if err != nil {
				rep.Error = "the fleet's grants cannot be listed: " + err.Error()
			}
			rep.Grants = mergeFleet(rep.Grants, fg)
		}
	case "revoke":
		n, err := d.revoke(ctx, req.Who)
		rep.Revoked = n
		if err != nil {
			rep.Error = err.Error()
		}
	default:
		rep.Error = fmt.Sprintf("unknown op %q: expected list or revoke", req.Op)
	}
	json.NewEncoder(c).Encode(rep)
}

// peerAllowed admits the daemon's own user only.
func peerAllowed(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var cerr error
	raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cerr != nil {
		return cerr
	}
	if int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("uid %d may not control this daemon (only uid %d may)", cred.Uid, os.Geteuid())
	}
	return nil
}

// listGrants merges what the engine granted with what the firewall holds:
// grants from before a restart show without their user.
func (d *Daemon) listGrants(ctx context.Context) []GrantInfo {
	var out []GrantInfo
	known := map[string]bool{}
	for _, g := range d.engine.Grants() {
		out = append(out, GrantInfo{User: g.User, Protocol: string(g.Protocol), Addr: g.Addr.String(), Port: g.Port.String(), Opened: g.Opened, Expires: g.Expires})
		known[g.Addr.String()+" "+g.Port.String()] = true
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fw, _ := d.firewall().Grants(fctx)
	now := d.opts.Now()
	for _, g := range fw {
		p := knock.Port{Proto: g.Proto, Port: g.Port}
		if known[g.Addr.String()+" "+p.String()] {
			continue
		}
		out = append(out, GrantInfo{Addr: g.Addr.String(), Port: p.String(), Expires: now.Add(g.Duration)})
	}
	return out
}

// revoke ends every grant of a user, or of an address, at once.
func (d *Daemon) revoke(ctx context.Context, who string) (int, error) {
	if who == "" {
		return 0, errors.New("revoke whom? give a user name or an address")
	}
	addr, perr := netip.ParseAddr(who)
	byAddr := perr == nil
	match := func(g engine.Grant) bool { return g.User == who }
	if byAddr {
		addr = addr.Unmap()
		match = func(g engine.Grant) bool { return g.Addr == addr }
	}
	n, err := d.engine.Revoke(ctx, match)
	if d.fleet != nil {
		sel := fleet.Selector{User: who}
		if byAddr {
			sel = fleet.Selector{Addr: addr}
		}
		// Every gate of the group ends them, this one included.
		fn, ferr := d.fleet.Revoke(ctx, sel)
		n, err = max(n, fn), errors.Join(err, ferr)
	}
	if !byAddr {
		return n, err
	}
	// Grants from before a restart are the firewall's alone.
	fw, ferr := d.firewall().Grants(ctx)
	for _, g := range fw {
		if g.Addr.Unmap() != addr {
			continue
		}
		if cerr := d.firewall().Close(ctx, firewall.Grant{Addr: g.Addr, Proto: g.Proto, Port: g.Port}); cerr != nil {
			err = errors.Join(err, cerr)
			continue
		}
		n++
	}
	return n, errors.Join(err, ferr)
}

// revokeUsers ends the grants of the users a reload removed or disabled.
func (d *Daemon) revokeUsers(ctx context.Context, names []string) {
	if len(names) == 0 {
		return
	}
	n, err := d.engine.Revoke(ctx, func(g engine.Grant) bool { return slices.Contains(names, g.User) })
	if err != nil {
		d.log.Error("ending the grants of removed or disabled users failed", "users", names, "err", err)
		return
	}
	d.log.Info("grants of removed or disabled users ended", "users", names, "grants", n)
}

// Control sends one request to a running daemon's control socket.
func Control(path string, req ControlRequest) (ControlReply, error) {
	var rep ControlReply
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return rep, fmt.Errorf("reaching the daemon at %s: %w (is knockdaemon running, and are you root?)", path, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return rep, err
	}
	if err := json.NewDecoder(c).Decode(&rep); err != nil {
		return rep, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if rep.Error != "" {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// mergeFleet adds the fleet's grants to this gate's, once each: a grant
// this gate made shows the gate's name from the fleet's list.
func mergeFleet(local, fleet []GrantInfo) []GrantInfo {
	idx := map[string]int{}
	for i, g := range local {
		idx[g.Addr+" "+g.Port] = i
	}
	for _, g := range fleet {
		if i, ok := idx[g.Addr+" "+g.Port]; ok {
			if local[i].Gate == "" {
				local[i].Gate = g.Gate
			}
			if local[i].User == "" {
				local[i].User = g.User
			}
			continue
		}
		local = append(local, g)
	}
	return local
}
