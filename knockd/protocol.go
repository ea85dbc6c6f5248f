package knockd

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/portknock/knock"
	"github.com/portknock/knock/engine"
	"github.com/portknock/knock/source"
)

// anyIface names the capture's interface in the Matcher when the file
// names none: the daemon's source decides where packets come from.
const anyIface = "\x00capture"

// Protocol is knockd's doors as the daemon's engine reads them: a
// stateful protocol (engine.StatefulProtocol) over the doors' ports.
// A door opened becomes a request for its Grant ports, if it has some,
// and its commands, run by Runner.
type Protocol struct {
	Config  *Config
	Matcher *Matcher
	// Runner runs the doors' commands; nil runs none (-test). Set it
	// before the engine sees the protocol: a reload hands the running
	// daemon's Runner to the new Protocol.
	Runner *Runner
	// Log tells the operator about commands that could not run and
	// one-time doors used up; nil discards.
	Log   *slog.Logger
	iface string
	ports []knock.Port
}

var _ engine.StatefulProtocol = (*Protocol)(nil)

// NewProtocol returns the protocol for c's doors. The capture must only
// deliver packets addressed to this host (mc.AllLocal is set). When the
// file names no Interface, the Matcher takes packets from wherever the
// daemon captures, not from eth0 as knockd would. The ports watched
// include those of every line of a one-time sequences file, read now:
// the sources' port sets are fixed at start.
func NewProtocol(c *Config, mc MatcherConfig) (*Protocol, error) {
	p := &Protocol{Config: c, iface: c.Interface}
	if mc.Interface != "" {
		p.iface = mc.Interface
	}
	if p.iface == "" {
		p.iface = anyIface
	}
	mc.Interface, mc.AllLocal = p.iface, true
	p.Matcher = NewMatcher(c, mc)
	seen := map[knock.Port]bool{}
	for _, d := range c.Doors {
		steps := slices.Clone(d.Sequence)
		if d.OneTime != "" {
			more, err := oneTimeSteps(d.OneTime)
			if err != nil {
				return nil, fmt.Errorf("%s: door %q: %w", d.Pos, d.Name, err)
			}
			steps = append(steps, more...)
		}
		for _, s := range steps {
			kp := knock.Port{Proto: knock.TCP, Port: s.Port}
			if s.Proto == UDP {
				kp.Proto = knock.UDP
			}
			if !seen[kp] {
				seen[kp] = true
				p.ports = append(p.ports, kp)
			}
		}
	}
	return p, nil
}

// oneTimeSteps lists the steps of every valid line of a one-time file.
func oneTimeSteps(path string) ([]Step, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("one-time sequences: %w", err)
	}
	defer f.Close()
	lines, err := readOneTime(f)
	if err != nil {
		return nil, fmt.Errorf("one-time sequences %s: %w", path, err)
	}
	var out []Step
	for _, l := range lines {
		out = append(out, l.seq...)
	}
	return out, nil
}

// Name implements engine.Protocol.
func (p *Protocol) Name() knock.Protocol { return knock.Knockd }

// Ports implements engine.StatefulProtocol.
func (p *Protocol) Ports() []knock.Port { return p.ports }

// Interface is the interface the doors listen on, "" when the file
// names none.
func (p *Protocol) Interface() string {
	if p.iface == anyIface {
		return ""
	}
	return p.iface
}

// Observe implements engine.StatefulProtocol.
func (p *Protocol) Observe(h source.Hit) []engine.Opening {
	pk := Packet{Time: h.Time, Src: h.Src, Dst: h.Dst, Iface: h.Iface, Proto: TCP, Port: h.Port, TCPFlags: h.TCPFlags}
	if h.Proto == knock.UDP {
		pk.Proto, pk.TCPFlags = UDP, 0
	}
	if pk.Iface == "" || p.iface == anyIface {
		pk.Iface = p.iface // the capture is on the doors' interface
	}
	if pk.Proto == TCP && h.TCPFlags == 0 {
		pk.TCPFlags = SYN // a source that cannot tell (a log line without flags) saw a SYN
	}
	events := p.Matcher.Packet(pk)
	if len(events) == 0 {
		return nil
	}
	out := make([]engine.Opening, 0, len(events))
	for _, ev := range events {
		if ev.Disabled != nil && p.Log != nil {
			p.Log.Warn("knockd door disabled until restart", "door", ev.Door.Name, "err", ev.Disabled)
		}
		out = append(out, p.opening(ev))
	}
	return out
}

// opening is what the engine does for one door opened.
func (p *Protocol) opening(ev Event) engine.Opening {
	d := ev.Door
	steps := make([]string, len(ev.Sequence))
	for i, s := range ev.Sequence {
		steps[i] = s.String()
	}
	req := knock.Request{
		Protocol: knock.Knockd, User: d.Name, Client: ev.Src.Unmap(),
		Fields: map[string]string{"door": d.Name, "client": ev.Src.String()},
	}
	if len(d.Grants) > 0 {
		if d.HasCmdTimeout {
			req.Duration = d.CmdTimeout
		}
		for _, g := range d.Grants {
			kp := knock.Port{Proto: knock.TCP, Port: g.Port}
			if g.Proto == UDP {
				kp.Proto = knock.UDP
			}
			req.Ports = append(req.Ports, kp)
		}
		req.Fields["ports"] = portsText(req.Ports)
		req.Fields["duration"] = req.Duration.String()
	}
	o := engine.Opening{Request: req}
	if start, _, _ := d.Commands(ev.Src); start != "" && p.Runner != nil {
		r, log := p.Runner, p.Log
		o.Run = func() {
			if err := r.Open(ev); err != nil && log != nil {
				log.Error("knockd door's commands not run", "door", d.Name, "src", ev.Src, "err", err)
			}
		}
	}
	return o
}

func portsText(ps []knock.Port) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
