// Package settings turns a configuration file in Config::General format
// (package conffile) and the command line into the typed settings of
// knockclient and knockdaemon, as the Perl prototype read them: every
// parameter of the file can be given on the command line (`-port 22`) and
// the command line wins; a boolean is negated with `-noNAME`.
//
// Both programs know every key, so that one file can describe both ends of
// a knock: the client ignores the daemon's keys and the other way round. A
// key that neither knows, a value of the wrong form or a key set twice is
// an error naming the file, the line and what was expected; the programs
// refuse to start rather than run half-configured.
package settings

import (
	"sort"
	"strings"
	"time"

	"github.com/portknock/knock/sealed"
)

// Program says which program reads a parameter.
type Program uint8

// Programs.
const (
	Client Program = 1 << iota
	Daemon
	Both = Client | Daemon
)

// Kind is the form of a parameter's value.
type Kind uint8

// Kinds of values.
const (
	String Kind = iota
	Bool
	Int
	Seconds // a duration; a bare number counts seconds
	Minutes // a duration; a bare number counts minutes
	List    // may be repeated; each line adds values
	Count   // a switch that counts: -debug -debug is 2
)

// Param describes one parameter.
type Param struct {
	Name    string
	Kind    Kind
	For     Program
	Default string
	Help    string
	Secret  bool // masked in dumps and never logged
	CLIOnly bool // a command-line switch, not a file key

	// Min and Max bound an Int's value, or a Seconds' or Minutes'
	// duration in nanoseconds (a time.Duration), both included: a value
	// outside is refused where it is read, with file:line, rather than
	// quietly replaced by a default or left to fail later. Every Int,
	// Seconds and Minutes parameter has them (a test checks).
	Min, Max int64
	// ZeroFor are the programs that may give a Seconds or Minutes
	// parameter 0 below Min, for a meaning Help gives (the client's
	// duration 0: the daemon's default).
	ZeroFor Program
}

// Units of the duration ranges.
const (
	sec    = int64(time.Second)
	minute = int64(time.Minute)
	hour   = int64(time.Hour)
	day    = 24 * hour
	// maxGrant is the longest grant: what a sealed knock can ask for.
	maxGrant = int64(sealed.MaxDuration)
)

// params lists every parameter of both programs. Keep it sorted by
// purpose; Lookup and the help texts read it.
//
// The ranges of maxsources and maxactive bound the tracker's fixed
// memory, about maxactive*220 bytes for the sources seen repeatedly, with
// their knock queues, plus maxsources*60 bytes for the sources seen once
// (measured: 3.4 MiB and 7.5 MiB at the defaults): at the largest, 220 MiB
// plus 240 MiB. The default maxsources keeps a knocker's first packet for
// 1.3 s under a flood of 100,000 new sources a second, and the packet
// socket's daemon under 40 MiB resident through 10 million of them.
var params = []Param{
	// The knock itself: read by both ends.
	{Name: "mode", For: Both, Default: "legacy", Help: "knock mode: legacy (the Perl prototype's knock) or sealed (authenticated, replay-proof); daemon: none serves only fwknopaccess"},
	{Name: "knock", For: Both, Default: "CLIENT,PORT,FLAG0,CHECKSUM", Help: "legacy knock format: fields CLIENT (IP), PORT, PORT16, FLAGn, RAND, THISYEAR, THISDAY, THISHOUR, THISMINUTE, THISSECOND, CHECKSUM"},
	{Name: "encrypt", Kind: Bool, For: Both, Default: "yes", Help: "legacy: encrypt the knock"},
	{Name: "key", For: Both, Secret: true, Help: "the shared passphrase"},
	{Name: "keyfile", For: Both, Help: "sealed: file holding the key written by knockclient -keygen (instead of key)"},
	{Name: "cipher", For: Both, Default: "Blowfish", Help: "legacy cipher: Blowfish, DES, IDEA, Twofish, Rijndael (AES)"},
	{Name: "iv", Kind: Bool, For: Both, Default: "no", Help: "legacy: send a random IV after a RandomIV header"},
	{Name: "portspan", For: Both, Default: "745-1000", Help: "ports knocks are sent to, a-b,c,d-e: 2^N ports, N from 1 to 16"},
	{Name: "timezone", For: Both, Default: "local", Help: "time zone of THIS* fields: local, UTC or an IANA name"},
	{Name: "kdftime", Kind: Int, For: Both, Default: "3", Min: 1, Max: 100, Help: "sealed: Argon2id passes over memory when the key is a passphrase"},
	{Name: "kdfmemory", Kind: Int, For: Both, Default: "65536", Min: sealed.MinKDFMemory, Max: 1 << 20, Help: "sealed: Argon2id memory in KiB"},
	{Name: "kdfthreads", Kind: Int, For: Both, Default: "4", Min: 1, Max: 255, Help: "sealed: Argon2id parallelism"},
	{Name: "kdfsalt", For: Both, Default: "knock sealed v1", Help: "sealed: salt for the passphrase KDF, not secret; both ends must agree; set your own"},
	{Name: "spaport", Kind: Int, For: Both, Default: "62201", Min: 1, Max: 65535, Help: "sealed: UDP port of single-packet authorization"},
	{Name: "server", For: Both, Help: "sealed: the name of the gate a knock is for, bound into version 2 knocks so that one captured on its way to this host opens no other; gates of a fleet may share one"},
	{Name: "user", For: Client, Help: "sealed: your user name on a daemon with several users (sends version 2 knocks)"},
	{Name: "window", Kind: Seconds, For: Both, Default: "60", Min: sec, Max: 8 * hour, Help: "how far a knock's time may be from the daemon's clock (client: for -decode)"},

	// What a knock asks for (client), and what may be granted (daemon).
	{Name: "client", For: Client, Help: "address to open the port to (CLIENT), or source (sealed: the address the knock comes from); default: this host's address toward remote"},
	{Name: "stun", For: Client, Help: "a STUN server (host:port) to learn this host's public address from, behind NAT; default none: no server is ever asked"},
	{Name: "port", Kind: Int, For: Client, Default: "22", Min: 0, Max: 65535, Help: "port to open (PORT)"},
	{Name: "duration", Kind: Minutes, For: Both, Default: "5", Min: sec, Max: maxGrant, ZeroFor: Client, Help: "client (sealed): minutes to ask for, 0 for the daemon's default; daemon: minutes to open when the knock says none"},
	{Name: "close", Kind: Bool, For: Client, Default: "no", Help: "sealed: ask to close the port instead of opening it"},
	{Name: "openprotocol", For: Client, Default: "tcp", Help: "sealed: the protocol of the port to open, tcp or udp"},

	// Client: delivery.
	{Name: "remote", For: Client, Help: "host to knock on (IPv4, IPv6 or a name)"},
	{Name: "protocol", For: Client, Default: "tcp", Help: "send knocks as tcp (one SYN each) or udp (one datagram each)"},
	{Name: "timeout", Kind: Seconds, For: Client, Default: "0.1", Min: 0, Max: 60 * sec, Help: "pause between knocks, in seconds"},
	{Name: "logtofile", Kind: Bool, For: Client, Default: "no", Help: "write knocks into logfile instead of sending them"},
	{Name: "logfile", For: Both, Default: "/var/log/kern.log", Help: "client: file to write knocks into; daemon: firewall log to watch (runmode = file)"},
	{Name: "fileformat", For: Both, Help: "format of a knock log line: _DATE_, _CLIENT_, _REMOTE_, _CLIENTPORT_, _REMOTEPORT_"},
	{Name: "spa", Kind: Bool, For: Client, Default: "no", Help: "sealed: send one UDP datagram (single-packet authorization) instead of a port sequence"},
	{Name: "verify", Kind: Bool, For: Client, Default: "no", Help: "after knocking, connect to remote:port and report whether it opened"},
	{Name: "retry", Kind: Int, For: Client, Default: "0", Min: 0, Max: 100, Help: "with verify: knock again up to N times, with backoff, until the port opens"},

	// Daemon: sources.
	{Name: "runmode", For: Daemon, Default: "network", Help: "file: follow logfile; network: read the packets (see capture)"},
	{Name: "capture", For: Daemon, Default: "auto", Help: "network mode: auto (ebpf where the kernel allows, else afpacket on interface, else nflog), ebpf (an XDP first stage on interface, or every Ethernet interface), afpacket (a packet socket on interface) or nflog (installs its own log rule)"},
	{Name: "interface", For: Daemon, Help: "network mode: the interface to watch (afpacket: required; nflog: optional filter)"},
	{Name: "silent", Kind: Bool, For: Daemon, Default: "yes", Help: "nflog: drop knock packets once logged, so the host never answers a knock (no RST, no ICMP)"},
	{Name: "nfloggroup", Kind: Int, For: Daemon, Default: "7", Min: 1, Max: 65535, Help: "NFLOG group the log rule sends knocks to"},
	{Name: "nflogbatch", Kind: Int, For: Daemon, Default: "1", Min: 1, Max: 1024, Help: "NFLOG: packets the kernel gathers before it wakes the daemon (or 10 ms): more costs less CPU under a flood and adds up to 10 ms to each knock"},
	{Name: "pattern", Kind: List, For: Daemon, Help: "file mode: regular expression with named groups src and dport (proto, dst optional); repeatable"},
	{Name: "fromstart", Kind: Bool, For: Daemon, Default: "no", Help: "file mode: read logfile from its start, not its end"},

	// Daemon: other protocols beside the daemon's own knock.
	{Name: "fwknopaccess", For: Daemon, Help: "fwknop: an fwknopd access.conf whose stanzas may open ports with fwknop's SPA packets"},
	{Name: "fwknopport", Kind: Int, For: Daemon, Default: "62201", Min: 1, Max: 65535, Help: "fwknop: the UDP port SPA packets go to"},
	{Name: "knockdconf", For: Daemon, Help: "knockd: a knockd.conf (such as /etc/knockd.conf) whose doors open beside the daemon's own knocks"},
	{Name: "fwknopage", Kind: Seconds, For: Daemon, Default: "120", Min: sec, Max: hour, Help: "fwknop: how far an SPA packet's time may be from the daemon's clock"},

	// Daemon: decisions.
	{Name: "protected", Kind: List, For: Daemon, Default: "tcp/22", Help: "the only ports knocks may open: proto/port, comma separated, repeatable"},
	{Name: "maxduration", Kind: Minutes, For: Daemon, Default: "1440", Min: sec, Max: maxGrant, Help: "the longest a knock may keep a port open, in minutes"},
	{Name: "timefield", For: Daemon, Default: "FLAG0", Help: "legacy: the field that carries the minutes to open (the prototype's TIME); none for duration; 0 minutes closes"},
	{Name: "closefield", For: Daemon, Help: "legacy: a field whose non-zero value closes the port"},
	{Name: "checkclient", Kind: Bool, For: Daemon, Default: "yes", Help: "the knock's CLIENT must be the packet's source address"},
	{Name: "allowsource", Kind: Bool, For: Daemon, Default: "yes", Help: "sealed: accept knocks that carry no address and open for the packet's source (knockclient client = source)"},
	{Name: "replay", Kind: Bool, For: Daemon, Default: "yes", Help: "refuse a knock that was accepted before"},
	{Name: "replayfile", For: Daemon, Default: "/var/lib/knockdaemon/claims/replay", Help: "where accepted knocks are remembered across restarts (in a folder of its own, which the daemon creates: a folder that exists without the file means the cache was lost)"},
	{Name: "replayttl", Kind: Minutes, For: Daemon, Default: "1440", Min: minute, Max: 366 * day, Help: "legacy: how long a knock without THIS* fields is remembered"},
	{Name: "knocktimeout", Kind: Seconds, For: Daemon, Default: "10", Min: sec / 10, Max: hour, Help: "the longest pause between two knocks of one sequence"},
	{Name: "maxsources", Kind: Int, For: Daemon, Default: "131072", Min: 1, Max: 1 << 22, Help: "sources seen once that are tracked (memory is fixed)"},
	{Name: "maxactive", Kind: Int, For: Daemon, Default: "16384", Min: 1, Max: 1 << 20, Help: "sources seen repeatedly that are tracked, with their knock queues"},

	// Daemon: firewall.
	{Name: "firewall", For: Daemon, Default: "nft", Help: "nft, iptables or command"},
	{Name: "nftmode", For: Daemon, Default: "own", Help: "nft: own (the daemon's own table guards the ports) or existing (sets in your table)"},
	{Name: "nfttable", For: Daemon, Default: "inet portknock", Help: "nft: family and table of the daemon's sets"},
	{Name: "opencommand", For: Daemon, Help: "command firewall: run to open; %IP%, %PORT%, %PROTO%, %TIME%, %SECONDS%, %FLAG0%..."},
	{Name: "closecommand", For: Daemon, Help: "command firewall: run when the time is up or on a closing knock"},
	{Name: "commandtimeout", Kind: Seconds, For: Daemon, Default: "10", Min: sec, Max: hour, Help: "command firewall: time limit of each command"},

	// Daemon: a fleet of gates sharing replay claims and grants (docs/fleet.md).
	{Name: "fleet", For: Daemon, Help: "the fleet's Redis: redis://HOST:PORT/DB, rediss://..., redis-sentinel://H1:P1,H2:P2/DB?master=NAME or redis-cluster://H1:P1,...; unset: this gate is alone"},
	{Name: "fleetname", For: Daemon, Default: "knock", Help: "the fleet's name, which prefixes every Redis key"},
	{Name: "fleetgate", For: Daemon, Help: "this gate's name in the fleet (default: the host name)"},
	{Name: "fleetgroup", For: Daemon, Default: "default", Help: "the group of gates that open each other's grants"},
	{Name: "fleetkey", For: Daemon, Help: "file (mode 0600) holding the fleet key that signs grants, shared by every gate; required with fleet"},
	{Name: "fleetcredentials", For: Daemon, Help: "file (mode 0600) with Redis ACL credentials (user and password lines); never in this file or on the command line"},
	{Name: "fleetfailure", For: Daemon, Default: "refuse", Help: "when Redis cannot be reached: refuse every knock, or local (decide alone from this gate's claims, reconcile later)"},
	{Name: "fleetreplicas", Kind: Int, For: Daemon, Default: "0", Min: 0, Max: 16, Help: "replicas that must acknowledge a claim (Redis WAIT) before it counts"},

	// Daemon: operations.
	{Name: "controlsocket", For: Daemon, Help: "the unix socket -list and -revoke reach the running daemon through (default: control.sock beside replayfile, or /run/knockdaemon/control.sock with replay = no); only its owner (root) may use it"},
	{Name: "metrics", For: Daemon, Help: "address for Prometheus metrics, such as 127.0.0.1:9477 (off when empty)"},
	{Name: "logformat", For: Daemon, Default: "text", Help: "log lines as text or json"},
	{Name: "logto", For: Daemon, Default: "stderr", Help: "where logs go: stderr or syslog"},

	// Both: behaviour.
	{Name: "test", Kind: Bool, For: Both, Default: "no", Help: "client: build the knock, send nothing; daemon: check the configuration, print what would be installed, exit"},
	{Name: "quiet", Kind: Bool, For: Both, Default: "no", Help: "print nothing but errors"},
	{Name: "debug", Kind: Count, For: Both, Default: "0", Help: "diagnostics; twice (-debug -debug) dumps every parameter"},

	// Command-line switches.
	{Name: "conf", For: Both, CLIOnly: true, Help: "configuration file (default: the search path)"},
	{Name: "profile", For: Both, CLIOnly: true, Help: "use the <profile NAME> block of the file"},
	{Name: "decode", For: Both, CLIOnly: true, Help: "decode a knock sequence \"P1 P2 ...\" and print it as JSON"},
	{Name: "from", For: Daemon, CLIOnly: true, Help: "with -decode: the source address the sequence came from (default: the knock's CLIENT)"},
	{Name: "keygen", Kind: Bool, For: Client, CLIOnly: true, Help: "write a new random key for the sealed mode and exit"},
	{Name: "uninstall", Kind: Bool, For: Daemon, CLIOnly: true, Help: "remove the daemon's firewall table and exit"},
	{Name: "list", Kind: Bool, For: Daemon, CLIOnly: true, Help: "print the running daemon's grants (user, address, port, opened, expires) and exit"},
	{Name: "revoke", For: Daemon, CLIOnly: true, Help: "end at once every grant of a user (a name) or of an address, in the running daemon, and exit"},
	{Name: "json", Kind: Bool, For: Daemon, CLIOnly: true, Help: "with -list: print JSON, for scripts"},
	{Name: "h", Kind: Bool, For: Both, CLIOnly: true, Help: "brief usage"},
	{Name: "man", Kind: Bool, For: Both, CLIOnly: true, Help: "the full manual"},
	{Name: "version", Kind: Bool, For: Both, CLIOnly: true, Help: "print the version and exit"},
}

// flagParam is the family FLAG0, FLAG1, ...: values for the knock's flags.
var flagParam = Param{Kind: Int, For: Client, Min: 0, Max: 255, Help: "value of FLAGn in the knock (0-255)"}

// Lookup finds a parameter by name, case-insensitively; flagN included.
func Lookup(name string) (Param, bool) {
	n := strings.ToLower(name)
	for _, p := range params {
		if p.Name == n {
			return p, true
		}
	}
	if isFlagName(n) {
		p := flagParam
		p.Name = n
		return p, true
	}
	return Param{}, false
}

func isFlagName(n string) bool {
	rest, ok := strings.CutPrefix(n, "flag")
	if !ok || rest == "" || len(rest) > 3 {
		return false
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return rest == "0" || rest[0] != '0'
}

// Params returns the parameters a program reads, in table order.
func Params(p Program) []Param {
	var out []Param
	for _, x := range params {
		if x.For&p != 0 {
			out = append(out, x)
		}
	}
	return out
}

// suggest returns the name of prog's parameters closest to name, for "did
// you mean": one it starts, or one within two edits.
func suggest(name string, prog Program) string {
	name = strings.ToLower(name)
	best, bestD := "", 3
	names := make([]string, 0, len(params))
	for _, p := range params {
		if p.For&prog != 0 {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if d := distance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	if bestD <= 1 {
		return best
	}
	for _, n := range names {
		if len(name) >= 3 && strings.HasPrefix(n, name) {
			return n
		}
	}
	return best
}

// distance is the edit distance with transpositions (optimal string
// alignment): "prot" is one edit from "port".
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
