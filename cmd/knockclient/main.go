// Command knockclient sends port knocks, as the Perl prototype's
// knockclient did, from the same configuration files and command lines:
//
//	knockclient -conf knockclient.conf [-remote x.x.x.x] [-port n] [-test] [-debug]
//
// The work is package client's; this command reads the settings, prints
// the usage and the manual (knockclient.1, rendered), and turns errors
// into one line on standard error and an exit status:
//
//	0  success (knocks sent, or the port verified open)
//	1  usage or configuration error
//	2  network or send error
//	3  -verify: the port is still closed after every retry
//	4  -decode: the sequence does not decode
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/portknock/knock/client"
	"github.com/portknock/knock/internal/manpage"
	"github.com/portknock/knock/internal/version"
	"github.com/portknock/knock/settings"
)

// Exit statuses, as the manual's EXIT STATUS lists them.
const (
	exitOK          = 0
	exitUsage       = 1
	exitSend        = 2
	exitClosed      = 3
	exitUndecodable = 4
)

const usage = `usage: knockclient [-conf file] [-profile name] [-parameter value ...]
                   [-test] [-quiet] [-debug [-debug]] [-verify [-retry n]]
       knockclient -decode "P1 P2 ..."     decode a knock sequence, print JSON
       knockclient -keygen [-keyfile file] write a new key for mode = sealed
       knockclient -h | -man | -version    this usage | the full manual | the version

Every parameter of the configuration file is also an option: -remote host,
-client address|source, -stun host:port (learn the address behind NAT),
-port n, -flag0 n, -knock FIELDS, -key phrase, -cipher name, -portspan a-b,
-timeout seconds, -protocol tcp|udp, -logtofile, ...
Booleans are negated with -no: -notest, -nologtofile.

Without -conf, the first of ~/.knockclient.conf, BIN/knockclient.conf,
BIN/etc/knockclient.conf, BIN/../etc/knockclient.conf, /etc/knockclient.conf
is read. Exit status: 0 ok, 1 usage or configuration, 2 network or send,
3 -verify found the port closed, 4 -decode could not decode.
`

//go:embed knockclient.1
var manual string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// -h, -man and -version answer whatever else the command line holds, even a
	// configuration that does not load.
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		switch strings.TrimLeft(a, "-") {
		case "h", "help":
			fmt.Fprint(stdout, usage)
			return exitOK
		case "man":
			text, err := manpage.Render("knockclient.1", manual)
			if err != nil {
				fmt.Fprintf(stderr, "knockclient: %v\n", err)
				return exitUsage
			}
			fmt.Fprint(stdout, text)
			return exitOK
		case "version":
			fmt.Fprintln(stdout, version.Line("knockclient"))
			return exitOK
		}
	}
	s, err := settings.Load(settings.Client, args, settings.SearchPath("knockclient"))
	if err != nil {
		fmt.Fprintf(stderr, "knockclient: %v\n", err)
		return exitUsage
	}
	err = client.New(s, client.Env{Stdout: stdout, Stderr: stderr}).Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "knockclient: %v\n", err)
	}
	return exitCode(err)
}

func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, client.ErrUndecodable):
		return exitUndecodable
	case errors.Is(err, client.ErrClosed):
		return exitClosed
	case errors.Is(err, client.ErrSend), errors.Is(err, context.Canceled):
		return exitSend
	}
	return exitUsage
}
