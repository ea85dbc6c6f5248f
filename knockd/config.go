// Package knockd reads knockd 0.8's configuration file and behaves as
// knockd does on the same packets: Parse reads /etc/knockd.conf, a Matcher
// follows each source's knock attempts and reports the doors that open, a
// Runner runs their start and stop commands. docs/knockd.md is the spec.
package knockd

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults and limits of knockd 0.8.
const (
	DefaultSeqTimeout = 25 * time.Second
	DefaultCmdTimeout = 10 * time.Second
	DefaultInterface  = "eth0"
	DefaultPidFile    = "/var/run/knockd.pid"
	MaxSteps          = 32  // ports in one sequence
	maxDoorName       = 127 // bytes of a door's name knockd keeps
	maxCommand        = 4095
)

// Proto is a step's transport protocol.
type Proto uint8

// IP protocol numbers, as in the IP header.
const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// TCP flag bits, as in the TCP header.
const (
	FIN uint8 = 0x01
	SYN uint8 = 0x02
	RST uint8 = 0x04
	PSH uint8 = 0x08
	ACK uint8 = 0x10
	URG uint8 = 0x20
)

// Step is one knock of a sequence.
type Step struct {
	Proto Proto
	Port  uint16
}

func (s Step) String() string { return fmt.Sprintf("%d:%s", s.Port, s.Proto) }

// Flags is a door's TCPFlags: the bits that must be set and those that
// must be clear; others are free.
type Flags struct {
	Set, Clear uint8
}

// Match reports whether a TCP packet's flags satisfy the door.
func (f Flags) Match(flags uint8) bool {
	return flags&f.Set == f.Set && flags&f.Clear == 0
}

// Grant is one port the daemon opens through its firewall (our extension).
type Grant struct {
	Proto Proto
	Port  uint16
}

// Pos is a place in a file, for errors.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Door is one section other than [options].
type Door struct {
	Name     string
	Pos      Pos    // of the section header
	Sequence []Step // the first valid line of OneTime if set
	OneTime  string // One_Time_Sequences file, "" if none
	Target   netip.Addr
	Flags    Flags

	SeqTimeout    time.Duration
	StartCommand  string
	StartCommand6 string // "" falls back to StartCommand
	CmdTimeout    time.Duration
	StopCommand   string
	StopCommand6  string // "" falls back to StopCommand
	// knockd tells an unset command from an empty one: a stop command set
	// to "" still runs (as an empty shell command) after Cmd_Timeout.
	HasStop, HasStart6, HasStop6 bool
	HasCmdTimeout                bool // Cmd_Timeout is set (a Grant's duration)
	Grants                       []Grant
}

// Commands returns the start and stop commands for a source, with knockd's
// IPv6 fallback, and whether a stop command is set.
func (d *Door) Commands(src netip.Addr) (start, stop string, hasStop bool) {
	start, stop, hasStop = d.StartCommand, d.StopCommand, d.HasStop
	if src.Is6() { // an IPv6 packet, as knockd: an IPv4-mapped source too
		if d.HasStart6 {
			start = d.StartCommand6
		}
		if d.HasStop6 {
			stop, hasStop = d.StopCommand6, true
		}
	}
	return start, stop, hasStop
}

// Config is a knockd.conf.
type Config struct {
	Path      string
	UseSyslog bool
	LogFile   string
	PidFile   string
	Interface string // "" if the file sets none
	Doors     []*Door
	// Mode is the file's permissions. The sequences in it are secrets,
	// yet Debian installs it 0644: the daemon should warn when others
	// can read it (Mode&0o004), not refuse an unmodified file.
	Mode os.FileMode
}

// ErrConfig marks every error in a knockd.conf.
var ErrConfig = errors.New("bad knockd configuration")

type lineError struct {
	pos  Pos
	text string
}

func (e *lineError) Error() string { return e.pos.String() + ": " + e.text }
func (e *lineError) Unwrap() error { return ErrConfig }

func errorf(pos Pos, format string, args ...any) error {
	return &lineError{pos: pos, text: fmt.Sprintf(format, args...)}
}

// Parse reads a knockd.conf. One-time sequence files are read (not
// changed) to find each such door's first sequence.
func Parse(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("knockd configuration: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("knockd configuration: %w", err)
	}
	c, err := parse(path, f, true)
	if c != nil {
		c.Mode = fi.Mode().Perm()
	}
	return c, err
}

// ParseText reads a knockd.conf from text; path names it in errors. A
// One_Time_Sequences file is not opened; the door's sequence stays empty.
// For tests and fuzzing.
func ParseText(path, text string) (*Config, error) {
	return parse(path, strings.NewReader(text), false)
}

func parse(path string, r interface{ Read([]byte) (int, error) }, openFiles bool) (*Config, error) {
	c := &Config{Path: path, PidFile: DefaultPidFile}
	var door *Door
	inSection, inOptions := false, false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		pos := Pos{path, n}
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' && len(line) >= 2 {
			name := line[1 : len(line)-1]
			if name == "" {
				return nil, errorf(pos, "bad section name %q: expected [options] or [door name]", line)
			}
			inSection = true
			inOptions = name == "options"
			if !inOptions {
				if len(name) > maxDoorName {
					name = name[:maxDoorName]
				}
				door = &Door{Name: name, Pos: pos, SeqTimeout: DefaultSeqTimeout, CmdTimeout: DefaultCmdTimeout}
				c.Doors = append(c.Doors, door)
			}
			continue
		}
		if !inSection {
			return nil, errorf(pos, "%q... is outside any section: expected [options] or [door name] first", firstWord(line))
		}
		key, value, hasValue := strings.Cut(line, "=")
		key = strings.ToUpper(strings.TrimSpace(key))
		value = strings.TrimSpace(value)
		if !hasValue {
			if key == "USESYSLOG" {
				c.UseSyslog = true
				continue
			}
			return nil, errorf(pos, "%q...: expected key = value (only UseSyslog stands alone)", firstWord(line))
		}
		var err error
		if inOptions {
			err = c.option(pos, key, value)
		} else {
			err = door.set(pos, key, value, openFiles)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &lineError{pos: Pos{path, n + 1}, text: fmt.Sprintf("expected a line of at most 1 MiB: %v", err)}
	}
	for _, d := range c.Doors {
		if len(d.Sequence) == 0 && (openFiles || d.OneTime == "") {
			return nil, errorf(d.Pos, "door %q has an empty knock sequence: expected Sequence = port[:tcp|udp],...", d.Name)
		}
	}
	return c, nil
}

// firstWord is what an error quotes of a line it cannot read: the line
// may be a knock sequence, which is a secret.
func firstWord(line string) string {
	if f := strings.Fields(line); len(f) > 0 {
		return f[0]
	}
	return ""
}

func (c *Config) option(pos Pos, key, value string) error {
	switch key {
	case "LOGFILE":
		c.LogFile = value
	case "PIDFILE":
		c.PidFile = value
	case "INTERFACE":
		c.Interface = value
	default:
		return errorf(pos, "unknown option %q in [options]: expected LogFile, PidFile, Interface or UseSyslog", key)
	}
	return nil
}

func (d *Door) set(pos Pos, key, value string, openFiles bool) error {
	var err error
	switch key {
	case "SEQUENCE":
		d.Sequence, err = ParseSequence(value)
		if err != nil {
			return errorf(pos, "door %q: Sequence: %v", d.Name, err)
		}
	case "ONE_TIME_SEQUENCES":
		d.OneTime = value
		d.Sequence = nil
		if openFiles {
			seq, _, err := nextOneTime(value)
			if err != nil {
				return errorf(pos, "door %q: One_Time_Sequences: %v", d.Name, err)
			}
			d.Sequence = seq
		}
	case "SEQ_TIMEOUT", "TIMEOUT":
		d.SeqTimeout, err = seconds(value)
	case "CMD_TIMEOUT":
		d.CmdTimeout, err = seconds(value)
		d.HasCmdTimeout = true
	case "TARGET":
		d.Target, err = netip.ParseAddr(value)
		if err == nil && d.Target.String() != value {
			err = fmt.Errorf("%q is not written as knockd compares it: expected %q", value, d.Target.String())
		} else if err != nil {
			err = fmt.Errorf("expected an IP address: %w", err)
		}
	case "START_COMMAND", "COMMAND":
		d.StartCommand = value
	case "START_COMMAND_6", "COMMAND_6":
		d.StartCommand6, d.HasStart6 = value, true
	case "STOP_COMMAND":
		d.StopCommand, d.HasStop = value, true
	case "STOP_COMMAND_6":
		d.StopCommand6, d.HasStop6 = value, true
	case "TCPFLAGS":
		err = d.Flags.parse(value)
	case "GRANT":
		d.Grants, err = parseGrants(value)
	default:
		return errorf(pos, "door %q: unknown key %q: expected Sequence, One_Time_Sequences, Seq_Timeout, TCPFlags, Target, Start_Command, Start_Command_6, Cmd_Timeout, Stop_Command, Stop_Command_6 or Grant", d.Name, key)
	}
	if err != nil {
		return errorf(pos, "door %q: %s: %v", d.Name, key, err)
	}
	return nil
}

// ParseSequence reads `port[:tcp|udp],...`.
func ParseSequence(text string) ([]Step, error) {
	var steps []Step
	for item := range strings.SplitSeq(text, ",") {
		if len(steps) == MaxSteps {
			return nil, fmt.Errorf("more than %d ports", MaxSteps)
		}
		port, proto, hasProto := strings.Cut(item, ":")
		s := Step{Proto: TCP}
		p, err := parsePort(strings.TrimSpace(port))
		if err != nil {
			return nil, err
		}
		s.Port = p
		if hasProto {
			switch strings.ToUpper(strings.TrimSpace(proto)) {
			case "TCP":
			case "UDP":
				s.Proto = UDP
			default:
				return nil, fmt.Errorf("protocol %q: expected tcp or udp", proto)
			}
		}
		steps = append(steps, s)
	}
	return steps, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %q: expected a number from 1 to 65535", s)
	}
	return uint16(n), nil
}

func seconds(s string) (time.Duration, error) {
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("%q: expected whole seconds", s)
	}
	return time.Duration(n) * time.Second, nil
}

var flagNames = map[string]uint8{"FIN": FIN, "SYN": SYN, "RST": RST, "PSH": PSH, "ACK": ACK, "URG": URG}

func (f *Flags) parse(text string) error {
	for word := range strings.SplitSeq(strings.ToUpper(text), ",") {
		name, not := strings.CutPrefix(word, "!")
		bit, ok := flagNames[name]
		if !ok {
			return fmt.Errorf("flag %q: expected FIN, SYN, RST, PSH, ACK or URG, possibly with ! (no spaces)", word)
		}
		if not {
			f.Set &^= bit
			f.Clear |= bit
		} else {
			f.Clear &^= bit
			f.Set |= bit
		}
	}
	return nil
}

func parseGrants(text string) ([]Grant, error) {
	var out []Grant
	for item := range strings.SplitSeq(text, ",") {
		proto, port, ok := strings.Cut(strings.TrimSpace(item), "/")
		if !ok {
			return nil, fmt.Errorf("%q: expected tcp/port or udp/port", item)
		}
		g := Grant{}
		switch strings.ToLower(proto) {
		case "tcp":
			g.Proto = TCP
		case "udp":
			g.Proto = UDP
		default:
			return nil, fmt.Errorf("protocol %q: expected tcp or udp", proto)
		}
		p, err := parsePort(port)
		if err != nil {
			return nil, err
		}
		g.Port = p
		out = append(out, g)
	}
	return out, nil
}
