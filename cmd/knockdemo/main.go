// Command knockdemo shows port knocking at work, with nothing to set up:
//
//	sudo "$(command -v go)" run ./cmd/knockdemo
//
// As root it builds two network namespaces joined by veth, a host and a
// client, runs a TCP service on the host's port 22 guarded by knockdaemon
// (nftables, knocks read through NFLOG), and shows a connection from the
// client refused, a sealed knock, the connection accepted, and refused
// again when the grant's time is up. Everything happens inside the two
// namespaces, which are removed at the end.
//
// With -fleet, as root, it shows a fleet of gates: a client, three gates
// and a redis-server on one bridge; one knock at gate-a opens gate-b and
// gate-c too, and the same knock, captured and sent to gate-b, is refused
// there as a replay.
//
// Without root it tells the same story in log-file mode: the client writes
// its knock into a log the daemon follows, and a command firewall records
// the grant in a file instead of the kernel.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/portknock/knock/internal/version"
)

func main() {
	grant := flag.Duration("grant", 5*time.Second, "how long the knock opens the port")
	fleet := flag.Bool("fleet", false, "a fleet of three gates sharing one Redis (needs root)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: knockdemo [-grant 5s] [-fleet] | -version\n\nAs root: a real knock opening a real port between two network namespaces;\nwith -fleet, one knock opening three gates that share a Redis.\nOtherwise: the same story in log-file mode.\n")
	}
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Line("knockdemo"))
		return
	}
	if *grant < time.Second || *grant > time.Hour {
		fmt.Fprintln(os.Stderr, "knockdemo: -grant must be between 1s and 1h")
		os.Exit(1)
	}
	if *fleet && os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "knockdemo: -fleet needs root: it builds network namespaces and nftables rules (sudo \"$(command -v go)\" run ./cmd/knockdemo -fleet)")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &story{out: os.Stdout, start: time.Now(), grant: *grant}
	var err error
	switch {
	case *fleet:
		err = s.fleet(ctx)
	case os.Geteuid() == 0:
		err = s.network(ctx)
	default:
		err = s.logFile(ctx)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "knockdemo: %v\n", err)
		os.Exit(1)
	}
}

// story prints the demo's steps with the time since the start.
type story struct {
	out   io.Writer
	start time.Time
	grant time.Duration
}

func (s *story) say(format string, args ...any) {
	fmt.Fprintf(s.out, "[%5.2fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}
