// Package iptables is the firewall backend for hosts without nftables
// support in the daemon: it drives the iptables and ip6tables binaries
// (IPv4 and IPv6 respectively), never through a shell, each call with a time
// limit. It works with both the legacy and the nf_tables variants of
// iptables; Debian's default is "iptables v1.8.9 (nf_tables)".
//
// # The chain
//
// The daemon owns one chain, PORTKNOCK by default, in the filter table of
// both families, jumped to from the first rule of INPUT:
//
//	-A INPUT -m comment --comment portknock-jump -j PORTKNOCK
//	-A PORTKNOCK -s 10.0.0.7/32 -p tcp -m tcp --dport 22 -m time --datestop 2030-01-02T03:14:59 -m comment --comment portknock-grant -j ACCEPT
//	-A PORTKNOCK -p tcp -m tcp --dport 22 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment portknock-guard -j ACCEPT
//	-A PORTKNOCK -p tcp -m tcp --dport 22 -m comment --comment portknock-guard -j DROP
//
// Grants sit at the top, each accepting one source address on one protected
// port. The guard follows: established and related traffic on a protected
// port is accepted (an SSH session outlives its knock window), and the rest
// of the protected port is dropped. Traffic to other ports falls through to
// the rest of INPUT untouched. Rules are tagged with comments so the backend
// recognises its own and leaves anything else in the chain alone.
//
// Setup is idempotent and safe at every start: it creates what is missing,
// keeps existing grants, rebuilds the guard only when the protected ports
// changed (new guard appended before the old one is deleted), and moves the
// jump back to the top of INPUT when another tool inserted rules above it
// (the new jump is inserted before the old one is deleted, under the other
// of two comment spellings so the deletion cannot hit the wrong rule). At no
// moment are the protected ports unguarded. Stopping the daemon removes
// nothing: the guard stays, so the ports stay closed. Only Uninstall removes
// the jump and the chain.
//
// # Access that ends on time
//
// iptables rules have no timeout, so each grant carries the time match
// (xt_time) with --datestop: the kernel compares its real-time clock, in
// whole seconds since the epoch, with the rule's stop second and stops
// matching after it, even if the daemon has died. The backend writes the
// stop in UTC and never uses --kerneltz: iptables parses --datestop as UTC,
// and --kerneltz makes the kernel shift the packet's time by the kernel
// time zone (sys_tz, set at boot from the RTC's zone) before comparing it
// with the date range as well, so on a host whose RTC keeps local time a
// grant would last hours longer or shorter than asked. The stop second is
// inclusive, so the backend writes the second before the grant's end,
// rounded down: access ends at most a second early, never late.
//
// An expired rule stops matching but stays in the chain until Sweep deletes
// it; the daemon calls Sweep periodically, and Setup calls it once. Until it
// is swept, a rule would match again if the clock were set back into its
// window, which is one more reason to sweep often. iptables cannot write a
// stop after 2038, so Open refuses grants ending later rather than granting
// without end.
//
// Open replaces any rule for the same address, protocol and port (the new
// rule is inserted before the old one is deleted); Close deletes them.
// Grants reads the rules back from "iptables -S PORTKNOCK".
package iptables
