package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/client"
	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/internal/netns"
	"github.com/portknock/knock/settings"
	"github.com/portknock/knock/source/nflog"
	"golang.org/x/sys/unix"
)

// fleet is the demo of a fleet of gates, as root: a client, three gates and
// a Redis on one bridge. One knock at gate a opens b and c too; the same
// knock, captured and sent to gate b, is refused there as a replay.
func (s *story) fleet(ctx context.Context) error {
	dir, cleanup, err := workDir("iproute2 nftables redis-server", "ip", "nft", "redis-server")
	if err != nil {
		return err
	}
	defer cleanup()

	s.say("building a LAN: a bridge namespace and five namespaces on it, client 10.78.0.1, gate-a .2, gate-b .3, gate-c .4, redis .5")
	lan, err := netns.NewLAN("client", "gate-a", "gate-b", "gate-c", "redis")
	if err != nil {
		return err
	}
	defer func() { lan.Delete(); s.say("namespaces removed") }()
	cl, gates, rns := lan.Hosts[0], lan.Hosts[1:4], lan.Hosts[4]

	stopRedis, err := s.startRedis(rns, dir)
	if err != nil {
		return err
	}
	defer stopRedis()
	// The daemons run in this process, in the root namespace as far as
	// their Redis client knows: each reaches Redis through a relay on this
	// namespace's loopback that dials from inside its gate's namespace, so
	// that the fleet's traffic crosses the LAN.
	urls := make([]string, len(gates))
	for i, g := range gates {
		addr, stop, err := relay(g, netip.AddrPortFrom(rns.Addr, 6379))
		if err != nil {
			return err
		}
		defer stop()
		urls[i] = "redis://" + addr + "/0"
	}
	confs, err := s.fleetConfs(dir, cl, gates, urls)
	if err != nil {
		return err
	}
	daemons := make([]*daemon.Daemon, len(gates))
	for i, g := range gates {
		if err := serve(g.NS, 22); err != nil {
			return err
		}
		d, stop, err := s.startGate(ctx, g, confs[i])
		if err != nil {
			return err
		}
		defer stop()
		daemons[i] = d
	}
	s.say("gate-a, gate-b, gate-c: a service on tcp/22, guarded by knockdaemon (nftables, NFLOG), claims and grants shared through the Redis at 10.78.0.5:6379")

	for _, g := range gates {
		s.fleetProbe(cl, g, "before any knock")
	}
	captured, err := s.fleetKnock(ctx, cl, gates[0], confs[0])
	if err != nil {
		return err
	}
	for _, g := range gates {
		if !fleetWait(ctx, cl, g, true, 5*time.Second) {
			return fmt.Errorf("tcp/22 on %s did not open after the knock at gate-a", g.Role)
		}
		if g == gates[0] {
			s.say("client → %s:22 (%s) ... connected", g.Addr, g.Role)
		} else {
			s.say("client → %s:22 (%s) ... connected: gate-a published the grant through Redis, signed with the fleet key", g.Addr, g.Role)
		}
	}

	s.say("an eavesdropper captured the knock: the same %d SYNs, from the client's address, to gate-b", len(captured))
	if err := send(cl, gates[1].Addr, captured); err != nil {
		return err
	}
	if !waitCond(ctx, 5*time.Second, func() bool { return daemons[1].Metrics().Rejected(knock.ReasonReplay) > 0 }) {
		return errors.New("gate-b did not refuse the replayed knock")
	}
	if n := daemons[1].Metrics().Accepted(); n != 0 {
		return fmt.Errorf("gate-b accepted %d knocks: the replay opened it", n)
	}
	s.say("gate-b refused the replay: gate-a had claimed this knock in Redis first")

	s.say("waiting for the grant to end (%v): each gate's kernel removes it", s.grant)
	for _, g := range gates {
		if !fleetWait(ctx, cl, g, false, s.grant+5*time.Second) {
			return fmt.Errorf("tcp/22 on %s did not close at the end of the grant", g.Role)
		}
		s.fleetProbe(cl, g, "after the grant")
	}
	return nil
}

// startRedis runs redis-server in its namespace, with no persistence, until
// the returned function kills it.
func (s *story) startRedis(ns *netns.Host, dir string) (func(), error) {
	cmd := ns.Command("redis-server", "--port", "6379", "--bind", ns.Addr.String(),
		"--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait(); s.say("redis-server stopped") }
	addr := netip.AddrPortFrom(ns.Addr, 6379).String()
	if !waitCond(context.Background(), 10*time.Second, func() bool {
		ok := false
		ns.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
			if err == nil {
				c.Close()
				ok = true
			}
			return nil
		})
		return ok
	}) {
		stop()
		return nil, errors.New("redis-server did not listen on " + addr)
	}
	s.say("redis: redis-server listens on %s (no persistence)", addr)
	return stop, nil
}

// fleetConfs writes the knock key, the fleet key and one configuration per
// gate; gate-a's also serves the client, whose remote is gate-a.
func (s *story) fleetConfs(dir string, cl *netns.Host, gates []*netns.Host, urls []string) ([]string, error) {
	key := filepath.Join(dir, "knock.key")
	if _, err := client.Keygen(key, rand.Reader, time.Now()); err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	fleetKey := filepath.Join(dir, "fleet.key")
	if err := os.WriteFile(fleetKey, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return nil, err
	}
	var confs []string
	for i, g := range gates {
		conf := filepath.Join(dir, g.Role+".conf")
		body := fmt.Sprintf("# %s, one of three gates sharing claims and grants through Redis.\n", g.Role) +
			s.sealedConf(key, g.Addr, cl.Addr, filepath.Join(dir, g.Role, "replay")) +
			fmt.Sprintf("fleet        = %s\nfleetgate    = %s\nfleetkey     = %s\nfleetfailure = refuse\n", urls[i], g.Role, fleetKey)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, err
		}
		confs = append(confs, conf)
	}
	return confs, nil
}

// relay carries every connection to its listener, on this namespace's
// loopback, to to, dialled from inside ns; it returns the listener's
// address and a function that closes it.
func relay(ns *netns.Host, to netip.AddrPort) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer down.Close()
				var up net.Conn
				if err := ns.Do(func() (err error) {
					up, err = net.DialTimeout("tcp", to.String(), 2*time.Second)
					return err
				}); err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, down); up.Close() }()
				io.Copy(down, up)
			}()
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }, nil
}

// startGate runs one gate's daemon in-process, its firewall and capture in
// the gate's namespace, and waits until its NFLOG rule is in place.
func (s *story) startGate(ctx context.Context, g *netns.Host, conf string) (*daemon.Daemon, func(), error) {
	set, err := settings.Load(settings.Daemon, []string{"-conf", conf}, nil)
	if err != nil {
		return nil, nil, err
	}
	fd, err := g.Open()
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(&prefixed{s: s, prefix: g.Role + ": "}, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: dropTime}))
	d, err := daemon.New(set, daemon.Options{Log: log, Backend: daemon.BackendOptions{NetNSFd: fd}, Source: daemon.SourceOptions{NetNSFd: fd}})
	if err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(dctx) }()
	stop := func() { cancel(); <-done; unix.Close(fd) }
	var stopped error
	exited := false
	ready := waitCond(ctx, 10*time.Second, func() bool {
		select {
		case stopped = <-done:
			exited = true
			return true
		default:
		}
		_, err := g.Run("nft", "list", "table", "inet", nflog.TableName(7))
		return err == nil
	})
	if exited {
		cancel()
		unix.Close(fd)
		return nil, nil, fmt.Errorf("%s: the daemon stopped: %w", g.Role, stopped)
	}
	if !ready {
		stop()
		return nil, nil, fmt.Errorf("%s: the daemon's NFLOG rule never appeared", g.Role)
	}
	return d, stop, nil
}

// fleetKnock prints the ports of a fresh sealed knock and sends them from
// the client to gate: the same ports serve the eavesdropper later.
func (s *story) fleetKnock(ctx context.Context, cl, gate *netns.Host, conf string) ([]uint16, error) {
	test, err := settings.Load(settings.Client, []string{"-conf", conf, "-test"}, nil)
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	if err := client.New(test, client.Env{Stdout: &out}).Run(ctx); err != nil {
		return nil, err
	}
	var ports []uint16
	for _, f := range strings.Fields(out.String()) {
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("knockclient -test printed %q", out.String())
		}
		ports = append(ports, uint16(n))
	}
	s.say("client: knockclient sends a sealed knock to gate-a, one SYN to each of these ports:\n         %s", strings.TrimSpace(out.String()))
	return ports, send(cl, gate.Addr, ports)
}

// send sends one SYN to each port of remote from the client's namespace.
func send(cl *netns.Host, remote netip.Addr, ports []uint16) error {
	return cl.Do(func() error {
		sn, err := client.System{}.Sender(remote)
		if err != nil {
			return err
		}
		defer sn.Close()
		for _, p := range ports {
			if err := sn.Send(client.Packet{Proto: knock.TCP, Port: p}); err != nil {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	})
}

func (s *story) fleetProbe(cl, g *netns.Host, when string) {
	if fleetDial(cl, g, 300*time.Millisecond) {
		s.say("client → %s:22 (%s) ... connected %s (unexpected!)", g.Addr, g.Role, when)
		return
	}
	s.say("client → %s:22 (%s) ... no answer within 0.3 s %s: the port is closed", g.Addr, g.Role, when)
}

// fleetWait polls until the client's connections to g are accepted (open)
// or not.
func fleetWait(ctx context.Context, cl, g *netns.Host, open bool, limit time.Duration) bool {
	if open {
		return waitCond(ctx, limit, func() bool { return fleetDial(cl, g, 300*time.Millisecond) })
	}
	// Closed is the kernel's word: the grant gone from the gate's set. A
	// connection attempt that times out on a busy machine says nothing.
	return waitCond(ctx, limit, func() bool {
		out, err := g.Run("nft", "list", "set", "inet", "portknock", "allowed4")
		return err == nil && !strings.Contains(out, cl.Addr.String())
	})
}

// fleetDial reports whether a connection from the client to g's service is
// accepted and echoes.
func fleetDial(cl, g *netns.Host, timeout time.Duration) bool {
	ok := false
	cl.Do(func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(g.Addr, 22).String(), timeout)
		if err != nil {
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		c.Write([]byte("k"))
		_, err = io.ReadFull(c, make([]byte, 1))
		ok = err == nil
		return nil
	})
	return ok
}

// waitCond polls cond until it holds, ctx ends or limit passes.
func waitCond(ctx context.Context, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
