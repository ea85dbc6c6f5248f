// Command knocklab serves the Knock Lab (package lab): a web page that
// builds and decrypts knocks, legacy and sealed.
//
//	knocklab [-listen 127.0.0.1:8080]
//
// It listens on the loopback address unless told otherwise, because the lab
// decrypts with any key typed into it: on a shared address it is a
// decryption oracle for whoever reaches it, and knocklab says so.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/portknock/knock/internal/manpage"
	"github.com/portknock/knock/internal/version"
	"github.com/portknock/knock/lab"
)

const usage = `usage: knocklab [-listen 127.0.0.1:8080]

Serves the Knock Lab, a web page that builds and decrypts knocks, legacy
and sealed, and its JSON API (POST /api/encode, /api/decode, /api/keygen;
see /api).

  -listen addr   address to serve on (default 127.0.0.1:8080); anything but
                 a loopback address makes the lab a decryption oracle for
                 whoever can reach it
  -man           print the manual
  -version       print the version
  -h             print this help
`

//go:embed knocklab.1
var manual string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// run is the command; ready, when set, learns the address once listening.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(net.Addr)) int {
	fs := flag.NewFlagSet("knocklab", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "127.0.0.1:8080", "")
	man := fs.Bool("man", false, "")
	showVersion := fs.Bool("version", false, "")
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "knocklab: %v\nrun knocklab -h for usage\n", err)
		return 2
	case fs.NArg() > 0:
		hint := ""
		if strings.Contains(fs.Arg(0), ":") {
			hint = fmt.Sprintf(": did you mean -listen %s?", fs.Arg(0))
		}
		fmt.Fprintf(stderr, "knocklab: unexpected argument %q%s\n", fs.Arg(0), hint)
		return 2
	case *showVersion:
		fmt.Fprintln(stdout, version.Line("knocklab"))
		return 0
	case *man:
		text, err := manpage.Render("knocklab.1", manual)
		if err != nil {
			fmt.Fprintf(stderr, "knocklab: %v\n", err)
			return 1
		}
		fmt.Fprint(stdout, text)
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if !isLoopback(*listen) {
		fmt.Fprintf(stderr, "knocklab: warning: listening on %s, beyond this machine's loopback.\n"+
			"  The lab decrypts knocks with whatever key is typed into it: anyone who can reach it\n"+
			"  can use it as a decryption oracle. Keep it on 127.0.0.1, or put it behind authentication.\n", *listen)
	}
	if err := serve(ctx, *listen, log, ready); err != nil {
		fmt.Fprintf(stderr, "knocklab: %v\n", err)
		return 1
	}
	return 0
}

// serve runs the lab until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, addr string, log *slog.Logger, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           lab.New(lab.Options{Logger: log}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving the Knock Lab", "url", "http://"+ln.Addr().String()+"/")
	if ready != nil {
		ready(ln.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shut)
	<-done
	log.Info("stopped")
	return err
}

// isLoopback reports whether addr listens on loopback only. An empty host
// listens on every address, and a name other than localhost may resolve to
// anything, so both count as beyond loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
