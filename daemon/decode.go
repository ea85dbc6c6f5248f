package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portknock/knock"
	"github.com/portknock/knock/legacy"
)

// Verdict is what the daemon makes of one sequence, for -decode.
type Verdict struct {
	Fields  map[string]any // the knock's fields, as knockclient -decode prints them
	Valid   bool           // decoded, checksum (or tag) holds
	Accept  bool           // the daemon would act on it
	Action  string         // "open tcp/22 to 192.0.2.7 for 15m0s", or "close ..."
	Reason  string         // the check that refused it
	Message string         // why
}

// Decoded is v in the JSON shape knockclient -decode and the Knock Lab
// share: the fields sorted by name, the verdict the action or "refuse",
// and for a refusal the reason and why.
func (v Verdict) Decoded() knock.Decoded {
	d := knock.Decoded{Valid: v.Valid, Verdict: v.Action}
	for _, k := range slices.Sorted(maps.Keys(v.Fields)) {
		d.Values = append(d.Values, knock.Value{Name: k, Value: v.Fields[k]})
	}
	if !v.Accept {
		d.Verdict, d.Reason, d.Why = knock.VerdictRefuse, knock.Reason(v.Reason), v.Message
	}
	return d
}

// ParsePorts reads "P1 P2 ..." or "P1,P2,...".
func ParsePorts(s string) ([]uint16, error) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
	if len(f) == 0 {
		return nil, errors.New("no ports: expected a sequence such as \"966 914 795\"")
	}
	out := make([]uint16, len(f))
	for i, x := range f {
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("%q is not a port (0-65535)", x)
		}
		out[i] = uint16(n)
	}
	return out, nil
}

// Decode runs every check on ports as if they arrived from src (the
// knock's CLIENT when src is invalid), acting on nothing and remembering
// nothing.
func (d *Daemon) Decode(ports []uint16, src netip.Addr) Verdict {
	v := Verdict{Fields: map[string]any{}}
	if l := d.legacy(); l != nil {
		vals, err := l.Codec.Decode(ports)
		if err == nil || errors.Is(err, legacy.ErrChecksum) {
			v.Fields = legacyFields(l, vals)
			v.Valid = err == nil
		}
		if !src.IsValid() && vals.Client.IsValid() {
			src = vals.Client
		}
	}
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
	}
	req, err := d.engine.Explain(context.Background(), ports, src, d.claims)
	if err != nil {
		v.Reason = string(knock.ReasonOf(err))
		v.Message = err.Error()
		return v
	}
	v.Valid, v.Accept = true, true
	for k, val := range req.Fields {
		if _, ok := v.Fields[k]; !ok {
			v.Fields[k] = val
		}
	}
	verb := "open"
	dur := req.Duration
	if req.Close {
		verb = "close"
	} else if dur == 0 {
		dur = d.cfg.Engine.Duration
	}
	proto := req.Proto
	if proto == "" {
		proto = "tcp"
	}
	v.Action = fmt.Sprintf("%s %s/%d to %s", verb, proto, req.Port, req.Client)
	if !req.Close {
		v.Action += fmt.Sprintf(" for %s", min(dur, d.cfg.Engine.MaxDuration))
	}
	return v
}

func legacyFields(l *legacy.Protocol, vals legacy.Values) map[string]any {
	out := map[string]any{}
	for k, s := range legacy.FieldMap(l.Codec.Format(), vals) {
		if n, err := strconv.Atoi(s); err == nil {
			out[k] = n
		} else {
			out[k] = s
		}
	}
	return out
}

// legacy is the legacy protocol of the configuration, if any.
func (d *Daemon) legacy() *legacy.Protocol {
	for _, p := range d.cfg.Engine.Protocols {
		if l, ok := p.(*legacy.Protocol); ok {
			return l
		}
	}
	return nil
}
