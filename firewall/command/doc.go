// Package command is the firewall backend of the Perl prototype's kind: it
// runs configured commands, one to open access and one to stop it, for any
// firewall the daemon has no native backend for (a cloud provider's CLI, a
// custom script).
//
// # Templates
//
// A template is a command line with placeholders:
//
//	%IP%       the granted address (IPv4 dotted, IPv6 as RFC 5952)
//	%PORT%     the port
//	%PROTO%    tcp or udp
//	%TIME%     the duration in whole minutes, rounded up, as the prototype's TIME
//	%SECONDS%  the duration in whole seconds, rounded up
//	%NAME%     the knock's field NAME (%CLIENT%, %FLAG0%, ...), for the
//	           field names configured (the built-in names win a clash)
//	%%         a literal %
//
// A template is split into arguments once, when it is configured, the way a
// shell would split it but without one: words separated by blanks, '...'
// quoting everything literally, "..." quoting with \" and \\ as escapes,
// and a backslash escaping any character outside quotes. Placeholders are
// then replaced inside each argument, quoted or not, and a value never
// splits or joins arguments, so a knock field holding "x; rm -rf /" reaches
// the program as that one literal argument. Unquoted shell operators
// (| & ; < > ( ) $ `) are refused, because a template that looks like a
// pipeline would silently not be one; a value that would begin an argument
// with '-' is refused, so that it cannot pass for an option. The program
// (the first word) cannot be a placeholder and must exist when configured.
// Anyone who does want a shell should pass values as positional
// parameters, never inside the script text:
//
//	/bin/sh -c 'exec mycli allow "$1" "$2"' sh %IP% %PORT%
//
// An unknown placeholder or a malformed template is a configuration error
// that names the template and the problem.
//
// # Running
//
// Each run has a time limit (DefaultTimeout unless configured); when it
// expires the command's whole process group is killed. Output is captured,
// bounded, for the log; a non-zero exit is an error quoting the command
// line and its standard error.
//
// # Ending access
//
// Open runs the start command and schedules the stop command for when the
// grant's duration has passed, on an injected clock. Opening the same
// address, protocol and port again reschedules it; Close runs it at once;
// Shutdown runs every pending stop command, so that a daemon stopped on
// purpose leaves nothing open (fail closed). A start command that fails may
// have half-opened access, so a stop is scheduled for it anyway.
//
// Unlike the nftables and iptables backends, this one cannot close access
// if the daemon is killed or crashes: the pending stops die with it, and
// whatever the start commands opened stays open until someone closes it.
// Prefer a firewall whose own rules expire (or pass %SECONDS% to a CLI that
// supports expiry), and write stop commands that succeed when there is
// nothing to remove, since Close runs them for grants opened before a
// restart too. Timers run on Go's monotonic clock, which stands still while
// a machine is suspended.
package command
