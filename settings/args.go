package settings

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

type cliSet struct {
	vals map[string]Value
}

func (c cliSet) has(name string) bool {
	_, ok := c.vals[name]
	return ok
}

func progName(p Program) string {
	if p == Client {
		return "knockclient"
	}
	return "knockdaemon"
}

// parseArgs reads "-name value", "-name=value", "-name" for booleans and
// counters, and "-noname" to negate a boolean.
func parseArgs(prog Program, args []string) (cliSet, error) {
	c := cliSet{vals: map[string]Value{}}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return c, fmt.Errorf("unexpected argument %q: options start with -, as in -remote 192.0.2.1", a)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		p, negated, err := lookupArg(prog, name)
		if err != nil {
			return c, err
		}
		v := c.vals[p.Name]
		v.Origin = "command line"
		switch {
		case negated:
			if hasValue {
				return c, fmt.Errorf("-%s takes no value", name)
			}
			v.Text = "no"
		case p.Kind == Bool && !hasValue:
			v.Text = "yes"
		case p.Kind == Count && !hasValue:
			n, _ := countOf(v.Text)
			if v.Text == "" {
				n = 0
			}
			v.Text = strconv.Itoa(n + 1)
		default:
			if !hasValue {
				if i+1 >= len(args) {
					return c, fmt.Errorf("-%s needs a value: %s", name, expected(p))
				}
				i++
				value = args[i]
			}
			if err := checkValue(prog, p, value); err != nil {
				return c, fmt.Errorf("-%s %q: %w", name, value, err)
			}
			v.Text = value
			if p.Kind == List {
				v.Values = append(v.Values, value)
			}
		}
		c.vals[p.Name] = v
	}
	return c, nil
}

func lookupArg(prog Program, name string) (p Param, negated bool, err error) {
	if name == "help" {
		name = "h" // -help and --help, as every other command takes them
	}
	if p, ok := Lookup(name); ok {
		if p.For&prog == 0 {
			return p, false, fmt.Errorf("-%s is a setting of %s, not of %s", name, progName(p.For), progName(prog))
		}
		return p, false, nil
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(name), "no"); ok {
		if p, ok := Lookup(rest); ok && p.Kind == Bool && p.For&prog != 0 {
			return p, true, nil
		}
	}
	msg := fmt.Sprintf("unknown option -%s", name)
	if hint := suggest(name, prog); hint != "" {
		msg += fmt.Sprintf(" (did you mean -%s?)", hint)
	}
	return Param{}, false, fmt.Errorf("%s; %s -h lists them", msg, progName(prog))
}

// checkValue checks that a value has its parameter's form and lies in its
// range, for prog; what the value means is checked when the settings are
// typed.
func checkValue(prog Program, p Param, v string) error {
	switch p.Kind {
	case Bool:
		_, err := ParseBool(v)
		return err
	case Int:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("expected %s", expected(p))
		}
		if err != nil || n < p.Min || n > p.Max {
			return fmt.Errorf("%s is out of range: expected %d to %d", strings.TrimSpace(v), p.Min, p.Max)
		}
	case Count:
		if _, err := countOf(v); err != nil {
			return fmt.Errorf("expected %s", expected(p))
		}
	case Seconds, Minutes:
		d, err := ParseDuration(v, unitOf(p.Kind))
		if err != nil {
			return err
		}
		zero := p.ZeroFor&prog != 0
		if d == 0 && zero {
			return nil
		}
		if int64(d) < p.Min || int64(d) > p.Max {
			or := ""
			if zero {
				or = "0 or "
			}
			return fmt.Errorf("%s is out of range: expected %s%s to %s", strings.TrimSpace(v), or, fmtDuration(p.Min), fmtDuration(p.Max))
		}
	}
	return nil
}

// fmtDuration writes a range's end as a duration a file may hold: 8h,
// not 8h0m0s.
func fmtDuration(ns int64) string {
	s := time.Duration(ns).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func unitOf(k Kind) time.Duration {
	if k == Minutes {
		return time.Minute
	}
	return time.Second
}

func expected(p Param) string {
	switch p.Kind {
	case Bool:
		return "yes or no"
	case Int:
		return "a whole number"
	case Count:
		return "yes, no or a level (0, 1, 2)"
	case Seconds:
		return "seconds (0.5) or a duration (500ms, 2m)"
	case Minutes:
		return "minutes (15) or a duration (90s, 2h, 2d)"
	}
	return "a value"
}

// countOf reads a counter: a level, or yes (1) and no (0) as the
// prototype's files wrote "debug = yes".
func countOf(v string) (int, error) {
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return n, nil
	}
	b, err := ParseBool(v)
	if b {
		return 1, err
	}
	return 0, err
}

// ParseBool reads yes/no, true/false, on/off and 1/0, in any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "on", "1", "y":
		return true, nil
	case "no", "false", "off", "0", "n":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", s)
}

// ParseDuration reads a bare number in unit ("0.5" seconds, "15"
// minutes) or a duration made of numbers with units: s, m, h, d (a day is
// 24 hours), and Go's ms, us and ns, as in "90s", "1h30m", "2d", "1d12h".
// Negative durations are refused.
func ParseDuration(s string, unit time.Duration) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var d time.Duration
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsNaN(f) {
		// A number beyond what a Duration holds is the longest one (or,
		// negative, the shortest), not whatever the conversion wraps to.
		switch ns := f * float64(unit); {
		case ns >= math.MaxInt64:
			d = math.MaxInt64
		case ns <= math.MinInt64:
			d = math.MinInt64
		default:
			d = time.Duration(ns)
		}
	} else if d, err = parseDays(t); err != nil {
		name := "seconds"
		if unit == time.Minute {
			name = "minutes"
		}
		return 0, fmt.Errorf("%q is not a duration: expected %s (a number) or a number with a unit (s, m, h, d) such as 90s, 2h or 2d", s, name)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// parseDays is time.ParseDuration with days: a leading "Nd" (N may have
// a fraction) counts N times 24 hours, and the rest, if any, is Go's.
func parseDays(t string) (time.Duration, error) {
	i := strings.IndexByte(t, 'd')
	if i < 0 {
		return time.ParseDuration(t)
	}
	days, err := strconv.ParseFloat(t[:i], 64)
	if err != nil || days < 0 || strings.ContainsAny(t[:i], "eEinfINFxX+") || days > 106000 {
		return 0, fmt.Errorf("%q: bad number of days", t)
	}
	d := time.Duration(days * float64(24*time.Hour))
	if rest := t[i+1:]; rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || strings.HasPrefix(rest, "+") {
			return 0, fmt.Errorf("%q: bad duration after the days", t)
		}
		d += r
	}
	return d, nil
}
