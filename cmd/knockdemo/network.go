package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/portknock/knock/client"
	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/internal/netns"
	"github.com/portknock/knock/settings"
)

// workDir checks that the tools a root demo runs are installed (naming
// the Debian packages that hold them) and makes its work directory.
func workDir(packages string, tools ...string) (dir string, cleanup func(), err error) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return "", nil, fmt.Errorf("%s is missing (apt-get install %s): %w", tool, packages, err)
		}
	}
	if dir, err = os.MkdirTemp("", "knockdemo-"); err != nil {
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// network is the demo as root: real packets, a real firewall.
func (s *story) network(ctx context.Context) error {
	dir, cleanup, err := workDir("iproute2 nftables", "ip", "nft")
	if err != nil {
		return err
	}
	defer cleanup()

	s.say("building two network namespaces joined by veth: host 10.77.0.1, client 10.77.0.2")
	pair, err := netns.NewPair()
	if err != nil {
		return err
	}
	defer func() { pair.Delete(); s.say("namespaces removed") }()

	conf, err := s.writeConf(dir, pair)
	if err != nil {
		return err
	}
	if err := serve(pair.Host, 22); err != nil {
		return err
	}
	s.say("host: a service listens on tcp/22 (it echoes what it gets)")
	stopDaemon, err := s.startDaemon(ctx, pair, conf)
	if err != nil {
		return err
	}
	defer stopDaemon()
	s.say("host: knockdaemon guards tcp/22 (nftables table inet portknock) and reads knocks through NFLOG")

	s.probe(pair, "before any knock")
	last, err := s.knock(ctx, pair, conf)
	if err != nil {
		return err
	}
	if d, ok := waitOpen(ctx, pair, true, 3*time.Second); ok {
		s.say("client → 10.77.0.1:22 ... connected, %v after the last knock left", (time.Since(last) - time.Since(d)).Round(100*time.Microsecond))
	} else {
		return errors.New("the port did not open after the knock")
	}
	s.say("waiting for the grant to end (%v): nothing in the daemon counts down, the kernel removes it", s.grant)
	if !waitGranted(ctx, pair, false, s.grant+5*time.Second) {
		return errors.New("the port did not close at the end of the grant")
	}
	s.probe(pair, "after the grant")
	return nil
}

func (s *story) writeConf(dir string, pair *netns.Pair) (string, error) {
	key := filepath.Join(dir, "knock.key")
	if _, err := client.Keygen(key, rand.Reader, time.Now()); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "knock.conf")
	body := "# One file for both ends of the knock.\n" +
		s.sealedConf(key, pair.HostV4, pair.ClientV4, filepath.Join(dir, "state", "replay"))
	return conf, os.WriteFile(conf, []byte(body), 0o600)
}

// startDaemon runs the daemon in-process, its firewall and capture inside
// the host namespace.
func (s *story) startDaemon(ctx context.Context, pair *netns.Pair, conf string) (func(), error) {
	set, err := settings.Load(settings.Daemon, []string{"-conf", conf}, nil)
	if err != nil {
		return nil, err
	}
	fd, err := pair.Host.Open()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(&prefixed{s: s, prefix: "daemon: "}, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: dropTime}))
	d, err := daemon.New(set, daemon.Options{Log: log, Backend: daemon.BackendOptions{NetNSFd: fd}, Source: daemon.SourceOptions{NetNSFd: fd}})
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(dctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := pair.Host.Run("nft", "list", "table", "inet", "portknock_log_7"); err == nil {
			break
		}
		select {
		case err := <-done:
			cancel()
			return nil, fmt.Errorf("the daemon stopped: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			return nil, errors.New("the daemon's NFLOG rule never appeared")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return func() { cancel(); <-done; os.Stdout.Sync() }, nil
}

// knock runs knockclient's work inside the client namespace.
func (s *story) knock(ctx context.Context, pair *netns.Pair, conf string) (time.Time, error) {
	set, err := settings.Load(settings.Client, []string{"-conf", conf}, nil)
	if err != nil {
		return time.Time{}, err
	}
	var out strings.Builder
	test, _ := settings.Load(settings.Client, []string{"-conf", conf, "-test"}, nil)
	if err := client.New(test, client.Env{Stdout: &out}).Run(ctx); err != nil {
		return time.Time{}, err
	}
	s.say("client: knockclient sends a sealed knock, one SYN to each of these ports (a fresh nonce each time):\n         %s", strings.TrimSpace(out.String()))
	err = pair.Client.Do(func() error { return client.New(set, client.Env{}).Run(ctx) })
	return time.Now(), err
}

func (s *story) probe(pair *netns.Pair, when string) {
	if canConnect(pair) {
		s.say("client → 10.77.0.1:22 ... connected %s (unexpected!)", when)
		return
	}
	s.say("client → 10.77.0.1:22 ... no answer within 0.3 s %s: the port is closed", when)
}

// waitOpen polls until the port's state is open, and says when it became so.
func waitOpen(ctx context.Context, pair *netns.Pair, open bool, limit time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(limit)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if dial(pair, 50*time.Millisecond) == open {
			return time.Now(), true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Time{}, false
}

// waitGranted polls the host's nft set until the client's grant is in it
// (want) or gone: the kernel's word, where a connection attempt timing out
// on a busy machine would say "closed" too early.
func waitGranted(ctx context.Context, pair *netns.Pair, want bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		out, err := pair.Host.Run("nft", "list", "set", "inet", "portknock", "allowed4")
		if err == nil && strings.Contains(out, "10.77.0.2") == want {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func canConnect(pair *netns.Pair) bool { return dial(pair, 300*time.Millisecond) }

// dial reports whether a connection from the client to the service is
// accepted and echoes, waiting at most timeout for the handshake.
func dial(pair *netns.Pair, timeout time.Duration) bool {
	ok := false
	pair.Client.Do(func() error {
		c, err := net.DialTimeout("tcp", "10.77.0.1:22", timeout)
		if err != nil {
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		c.Write([]byte("k"))
		b := make([]byte, 1)
		_, err = io.ReadFull(c, b)
		ok = err == nil
		return nil
	})
	return ok
}

func serve(ns *netns.NS, port int) error {
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return nil
}

// sealedConf is the demo's file for both ends of a sealed knock: host
// guarded by nft, knocks read through NFLOG.
func (s *story) sealedConf(key string, host, client netip.Addr, replay string) string {
	return fmt.Sprintf(`mode         = sealed
keyfile      = %s
portspan     = 40000-40255
protected    = tcp/22
remote       = %s
client       = %s
port         = 22
duration     = %s
timeout      = 0.01
runmode      = network
capture      = nflog
firewall     = nft
replayfile   = %s
`, key, host, client, s.grant, replay)
}
