// Command knockdaemon keeps every protected port closed and opens one, to
// one address, for a while, after a valid knock. See knockdaemon.8, or
// run knockdaemon -man.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/portknock/knock/daemon"
	"github.com/portknock/knock/internal/manpage"
	"github.com/portknock/knock/internal/version"
	"github.com/portknock/knock/settings"
)

//go:embed knockdaemon.8
var manual string

// Exit statuses, as the manual lists them.
const (
	exitOK      = 0
	exitConfig  = 1
	exitRunning = 2
	exitRefused = 4
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// -h (-help, --help) answers whatever else the command line holds,
	// even a configuration that does not load, as knockclient's does.
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			usage(stdout)
			return exitOK
		}
	}
	search := settings.SearchPath("knockdaemon")
	set, err := settings.Load(settings.Daemon, args, search)
	if err != nil {
		fmt.Fprintf(stderr, "knockdaemon: %v\n", err)
		return exitConfig
	}
	switch {
	case set.Bool("h"):
		usage(stdout)
		return exitOK
	case set.Bool("man"):
		text, err := manpage.Render("knockdaemon.8", manual)
		if err != nil {
			fmt.Fprintf(stderr, "knockdaemon: %v\n", err)
			return exitConfig
		}
		fmt.Fprint(stdout, text)
		return exitOK
	case set.Bool("version"):
		fmt.Fprintln(stdout, version.Line("knockdaemon"))
		return exitOK
	}
	if set.Int("debug") >= 2 {
		daemon.DumpSettings(stderr, set)
	}
	for _, name := range []string{"decode", "from", "revoke"} {
		if set.IsSet(name) && set.String(name) == "" {
			// An empty argument is most often a failed command
			// substitution: never take it for "not given".
			fmt.Fprintf(stderr, "knockdaemon: -%s needs a value, and was given an empty one\n", name)
			return exitConfig
		}
	}
	if set.IsSet("decode") {
		return decode(set, stdout, stderr)
	}
	if set.Bool("uninstall") {
		return uninstall(set, stdout, stderr)
	}
	if set.Bool("list") || set.IsSet("revoke") {
		return control(set, stdout, stderr)
	}
	d, err := daemon.New(set, daemon.Options{Stderr: stderr})
	if err != nil {
		fmt.Fprintf(stderr, "knockdaemon: %v\n", err)
		return exitConfig
	}
	if set.Bool("test") {
		// Every setting was checked and every part built; nothing ran,
		// and nothing on the host changed.
		fmt.Fprintf(stdout, "%s\n", d.Describe())
		fmt.Fprintln(stdout, "knockdaemon: the configuration is valid; nothing was changed")
		return exitOK
	}
	return serve(d, args, search, stderr)
}

// serve runs the daemon until SIGTERM or SIGINT, reloading on SIGHUP.
func serve(d *daemon.Daemon, args, search []string, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			set, err := settings.Load(settings.Daemon, args, search)
			if err == nil {
				err = d.Reload(ctx, set)
			}
			if err != nil {
				fmt.Fprintf(stderr, "knockdaemon: reload refused: %v\n", err)
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "knockdaemon: %v\n", err)
		return exitRunning
	}
	return exitOK
}

func decode(set *settings.Set, stdout, stderr io.Writer) int {
	ports, err := daemon.ParsePorts(set.String("decode"))
	if err != nil {
		fmt.Fprintf(stderr, "knockdaemon: -decode: %v\n", err)
		return exitConfig
	}
	var from netip.Addr
	if f := set.String("from"); f != "" {
		if from, err = netip.ParseAddr(f); err != nil {
			fmt.Fprintf(stderr, "knockdaemon: -from %q: not an IP address\n", f)
			return exitConfig
		}
	}
	// Deciding needs no firewall and no source, and reads the replay
	// cache without writing it.
	d, err := daemon.NewDecoder(set)
	if err != nil {
		fmt.Fprintf(stderr, "knockdaemon: %v\n", err)
		return exitConfig
	}
	v := d.Decode(ports, from)
	json.NewEncoder(stdout).Encode(v.Decoded())
	if !v.Accept {
		return exitRefused
	}
	return exitOK
}

func uninstall(set *settings.Set, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := daemon.Uninstall(ctx, set, daemon.Options{}); err != nil {
		fmt.Fprintf(stderr, "knockdaemon: -uninstall: %v\n", err)
		return exitRunning
	}
	fmt.Fprintln(stdout, "knockdaemon: firewall rules removed; the protected ports are no longer guarded by the daemon")
	return exitOK
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: knockdaemon [-conf FILE] [-profile NAME] [-NAME VALUE ...] [-test] [-debug] [-quiet]
       knockdaemon -decode "P1 P2 ..." [-from ADDRESS]
       knockdaemon -uninstall
       knockdaemon -list [-json] | -revoke USER|ADDRESS
       knockdaemon -man | -version

Keeps every protected port closed; opens one to one address, for a while,
after a valid knock. Every setting of the file can be given as -NAME VALUE;
-noNAME switches a yes/no setting off.

  -conf FILE     configuration (default: ~/.knockdaemon.conf, beside the program, /etc/knockdaemon.conf)
  -test          decide and log, change no firewall
  -decode "..."  print what the daemon makes of one sequence, as JSON
  -debug         log every decision; twice: dump every setting first
  -quiet         warnings and errors only
  -uninstall     remove the daemon's firewall rules
  -man           the full manual
  -version       the version
`)
}

// control asks the running daemon for its grants (-list) or to end some
// (-revoke), through its control socket.
func control(set *settings.Set, stdout, stderr io.Writer) int {
	path := daemon.ControlPath(set)
	if set.IsSet("revoke") {
		rep, err := daemon.Control(path, daemon.ControlRequest{Op: "revoke", Who: set.String("revoke")})
		if err != nil {
			fmt.Fprintf(stderr, "knockdaemon: -revoke: %v\n", err)
			return exitRunning
		}
		fmt.Fprintf(stdout, "knockdaemon: %d grant(s) of %s ended\n", rep.Revoked, set.String("revoke"))
		return exitOK
	}
	rep, err := daemon.Control(path, daemon.ControlRequest{Op: "list"})
	if err != nil {
		fmt.Fprintf(stderr, "knockdaemon: -list: %v\n", err)
		return exitRunning
	}
	if set.Bool("json") {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if rep.Grants == nil {
			rep.Grants = []daemon.GrantInfo{}
		}
		enc.Encode(rep.Grants)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tADDRESS\tPORT\tPROTOCOL\tOPENED\tEXPIRES")
	for _, g := range rep.Grants {
		user, opened := g.User, "-"
		if user == "" {
			user = "?" // made before the daemon started
		}
		if !g.Opened.IsZero() {
			opened = g.Opened.Local().Format(time.DateTime)
		}
		proto := g.Protocol
		if proto == "" {
			proto = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", user, g.Addr, g.Port, proto, opened, g.Expires.Local().Format(time.DateTime))
	}
	tw.Flush()
	return exitOK
}
