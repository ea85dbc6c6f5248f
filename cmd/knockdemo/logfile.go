package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/portknock/knock/client"
	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/settings"
)

// logFile is the demo without root: no namespaces, no kernel firewall.
// The client writes its knock as firewall-log lines, as the prototype's
// client could; the daemon follows the log and runs a command firewall
// whose "rule" is a file.
func (s *story) logFile(ctx context.Context) error {
	touch, err1 := exec.LookPath("touch")
	rm, err2 := exec.LookPath("rm")
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "knockdemo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s.say("not root: no network namespaces and no firewall here, so this is the log-file mode")
	s.say("(run it as root to see a real port open: sudo \"$(command -v go)\" run ./cmd/knockdemo)")

	key := filepath.Join(dir, "knock.key")
	if _, err := client.Keygen(key, rand.Reader, time.Now()); err != nil {
		return err
	}
	log := filepath.Join(dir, "kern.log")
	grant := filepath.Join(dir, "grant-192.0.2.7-22")
	if err := os.WriteFile(log, nil, 0o600); err != nil {
		return err
	}
	conf := filepath.Join(dir, "knock.conf")
	body := fmt.Sprintf(`mode         = sealed
keyfile      = %s
portspan     = 40000-40255
protected    = tcp/22
remote       = 192.0.2.1
client       = 192.0.2.7
port         = 22
duration     = %s
runmode      = file
logfile      = %s
logtofile    = yes
firewall     = command
opencommand  = %s %s/grant-%%IP%%-%%PORT%%
closecommand = %s -f %s/grant-%%IP%%-%%PORT%%
replayfile   = %s
`, key, s.grant, log, touch, dir, rm, dir, filepath.Join(dir, "state", "replay"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return err
	}

	dset, err := settings.Load(settings.Daemon, []string{"-conf", conf}, nil)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(&prefixed{s: s, prefix: "daemon: "}, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	d, err := daemon.New(dset, daemon.Options{Log: logger})
	if err != nil {
		return err
	}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(dctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(300 * time.Millisecond) // the follower reaches the end of the log
	s.say("daemon: follows %s; its firewall is a command that creates %s while access is granted", log, filepath.Base(grant))
	s.state(grant)

	cset, err := settings.Load(settings.Client, []string{"-conf", conf}, nil)
	if err != nil {
		return err
	}
	if err := client.New(cset, client.Env{}).Run(ctx); err != nil {
		return err
	}
	lines, _ := os.ReadFile(log)
	first, _, _ := strings.Cut(string(lines), "\n")
	s.say("client: wrote a sealed knock as %d firewall-log lines, such as:\n         %s", strings.Count(string(lines), "\n"), first)
	if !waitFile(ctx, grant, true, 3*time.Second) {
		return errors.New("no grant after the knock")
	}
	s.state(grant)
	s.say("waiting for the grant to end (%v)", s.grant)
	if !waitFile(ctx, grant, false, s.grant+5*time.Second) {
		return errors.New("the grant did not end")
	}
	s.state(grant)
	return nil
}

func (s *story) state(grant string) {
	if _, err := os.Stat(grant); err == nil {
		s.say("firewall: 192.0.2.7 may connect to tcp/22")
	} else {
		s.say("firewall: tcp/22 closed to everyone")
	}
}

func waitFile(ctx context.Context, path string, exists bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if _, err := os.Stat(path); (err == nil) == exists {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
