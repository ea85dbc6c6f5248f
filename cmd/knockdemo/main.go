// Command knockdemo shows port knocking at work, with nothing to set up:
//
//	sudo go run ./cmd/knockdemo
//
// As root it builds two network namespaces joined by veth, a host and a
// client, runs a TCP service on the host's port 22 guarded by knockdaemon
// (nftables, knocks read through NFLOG), and shows a connection from the
// client refused, a sealed knock, the connection accepted, and refused
// again when the grant's time is up. Everything happens inside the two
// namespaces, which are removed at the end.
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
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: knockdemo [-grant 5s] | -version\n\nAs root: a real knock opening a real port between two network namespaces.\nOtherwise: the same story in log-file mode.\n")
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &story{out: os.Stdout, start: time.Now(), grant: *grant}
	var err error
	if os.Geteuid() == 0 {
		err = s.network(ctx)
	} else {
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
