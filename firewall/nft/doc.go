// Package nft is the nftables firewall backend, spoken natively over
// netlink (github.com/google/nftables); it never runs the nft binary.
//
// # Grants are set elements that expire by themselves
//
// A grant is one element, address . protocol . port, of a set with
// "flags timeout": allowed4 (ipv4_addr . inet_proto . inet_service) or
// allowed6 (ipv6_addr . inet_proto . inet_service). Open adds it with the
// grant's duration as its own timeout, and the kernel removes it when the
// time is up. So access ends on time even if the daemon is killed with
// SIGKILL, crashes, or is never started again: there is no timer in this
// process to lose. Close deletes the element early. Grants lists the
// elements with the time they have left.
//
// Opening a grant that is open gives it the new duration. Kernels since
// 6.12 update an element added again, if its timeout differs; older ones
// keep it unchanged. Setup probes which kind the kernel is, and Open uses
// two adds in one batch (the first with one clock tick more, so one of
// them always differs) on the first kind, and add, delete, add in one
// batch on the second. Both are atomic: access never lapses in between.
//
// # Two modes
//
// OwnTable (the default) installs table inet portknock: a set "protected"
// of proto . port, and a base chain on the input hook that sends packets
// for a protected port to a "guard" chain, which accepts loopback,
// established and related connections (an SSH session outlives the knock
// window, as with knockd), and sources in allowed4/allowed6, and drops the
// rest. Other ports pass the table untouched.
//
// An accept ends a packet's way through one base chain only; every other
// base chain on the hook still sees it, and a drop anywhere is final. On
// a host whose own ruleset drops by default (table inet filter with
// "policy drop"), the own table's accept does not get a granted client
// in. ExistingTable mode is for those hosts: the daemon only fills two
// sets in the administrator's table, which the administrator declares and
// references from their own input chain with one line per family:
//
//	ip saddr . meta l4proto . th dport @portknock4 accept
//	ip6 saddr . meta l4proto . th dport @portknock6 accept
//
// The daemon requires the sets to be declared rather than creating them:
// the administrator's rule cannot be loaded without them, so they belong
// in the same file, and a reload of that file ("flush ruleset", then the
// file) then recreates them empty, which revokes grants instead of
// failing to load. Setup refuses a missing table, a missing set, a set of
// another type (naming the type it wants), and sets no rule looks up,
// each with the text to add. There is no third, mark-based mode: it would
// need the administrator's rule all the same, and would take mark bits
// other software (VPNs, policy routing, Kubernetes) already uses.
//
// # Hook priority
//
// The guard's base chain hooks input at priority filter - 10 (-10). Any
// priority guards: a drop in any chain is final and no other chain's
// accept overrides it. Running just before the usual filter chains
// (priority 0: table inet filter, iptables-nft's INPUT) refuses a packet
// for a protected port once, before other filters spend work or log it as
// theirs; running after mangle (-150) leaves packet marking to run first.
// Conntrack has classified the packet at prerouting, so "ct state" is
// known at any input priority. Only the input hook is guarded: traffic
// forwarded to containers or VMs is not the host's to guard here.
//
// # Failing closed
//
// Setup is safe at every start: it creates what is missing, updates the
// protected set and the chains in one atomic batch (the guard never
// lapses), keeps grants in force, and removes grants for ports no longer
// protected and elements without a timeout. Stopping the daemon removes
// nothing, since removing the guard would open the ports; only Uninstall
// removes the table (or, in ExistingTable mode, every grant). Open refuses
// ports outside Config.Protected, so the administrator's accept line can
// never open another port, and durations under MinDuration, which the
// kernel's clock could round down to "never expires".
//
// A host firewall reload that starts with "flush ruleset" deletes the own
// table, and with it the guard. Watch follows the kernel's nftables
// notifications (the NFNLGRP_NFTABLES multicast group) and reports the
// table's deletion as it happens, so the daemon runs Setup again at once
// rather than at its next periodic check.
//
// # One table, one daemon
//
// Several daemons may run on one host, each with its own table (and
// NFLOG group). Two sharing a table would each rewrite the other's
// protected ports at every check, so in own-table mode Setup claims the
// table for its process by binding the abstract unix socket
// "knockdaemon/nft/FAMILY/TABLE", and fails with ErrTableInUse, naming
// the holder's pid, while another process holds it. Abstract socket names
// live in the network namespace, as tables do; the kernel frees the name
// when the holder exits, however it exits, so there is no stale lock, no
// pid to be reused, and nothing added to the ruleset. Two daemons starting
// at the same instant cannot both win: the bind is atomic.
//
// Each call opens its own netlink socket in the configured namespace,
// so a failed call leaves nothing half-read for the next one.
package nft
