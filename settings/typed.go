package settings

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The typed getters below read values whose form Load already checked, so
// they cannot fail; meaning (ranges, addresses, spans) is checked by the
// callers, through Errorf.

// String returns a parameter's text, spaces trimmed.
func (s *Set) String(name string) string { return strings.TrimSpace(s.Get(name).Text) }

// Path returns a file name parameter, a leading "~/" standing for the
// home directory, as shells and users expect.
func (s *Set) Path(name string) string {
	p := s.String(name)
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// Bool returns a boolean parameter.
func (s *Set) Bool(name string) bool {
	b, _ := ParseBool(s.Get(name).Text)
	return b
}

// Int returns an integer parameter (a counter's level for -debug).
func (s *Set) Int(name string) int {
	if p, _ := Lookup(name); p.Kind == Count {
		n, _ := countOf(s.Get(name).Text)
		return n
	}
	n, _ := strconv.Atoi(strings.TrimSpace(s.Get(name).Text))
	return n
}

// Duration returns a duration parameter.
func (s *Set) Duration(name string) time.Duration {
	p, _ := Lookup(name)
	d, _ := ParseDuration(s.Get(name).Text, unitOf(p.Kind))
	return d
}

// List returns every value of a list parameter, each line split at commas
// when split is true.
func (s *Set) List(name string, split bool) []string {
	var out []string
	for _, v := range s.Get(name).Values {
		if !split {
			out = append(out, v)
			continue
		}
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// Flags returns the flagN values set, by n.
func (s *Set) Flags() map[int]int {
	out := map[int]int{}
	for name, v := range s.vals {
		if !isFlagName(name) {
			continue
		}
		n, _ := strconv.Atoi(name[4:])
		val, _ := strconv.Atoi(strings.TrimSpace(v.Text))
		out[n] = val
	}
	return out
}

// Location returns the time zone of the timezone parameter.
func (s *Set) Location() (*time.Location, error) {
	switch tz := s.String("timezone"); strings.ToLower(tz) {
	case "", "local":
		return time.Local, nil
	case "utc":
		return time.UTC, nil
	default:
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, s.Errorf("timezone", "unknown time zone: expected local, UTC or an IANA name such as Europe/Paris")
		}
		return loc, nil
	}
}
