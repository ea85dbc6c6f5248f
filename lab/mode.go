package lab

import (
	"fmt"
	"slices"
	"strings"
)

// A mode is one kind of knock the lab builds and reads. The page and the
// API know only this interface and the Form: the authenticated knock of
// package sealed will be a second entry in modes, reading the fields it
// needs, and the page shows its mode selector once there is a choice.
type mode interface {
	encode(l *Lab, f Form) (*Result, Errors)
	decode(l *Lab, f Form) (*Result, Errors)
}

// defaultMode is the mode of a form that names none.
const defaultMode = "legacy"

var modes = map[string]mode{
	"legacy": legacy{},
}

// modeNames lists the modes, for the selector.
func modeNames() []string {
	var out []string
	for k := range modes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// run encodes or decodes a form in the mode it names. A decode that fails
// may still return a Result: the stages it reached, shown beside the error.
func (l *Lab) run(action string, f Form) (*Result, Errors) {
	name := strings.ToLower(strings.TrimSpace(f.Mode))
	if name == "" {
		name = defaultMode
	}
	m, ok := modes[name]
	if !ok {
		return nil, Errors{"mode": fmt.Sprintf("unknown mode %q: the lab knows %s", f.Mode, strings.Join(modeNames(), ", "))}
	}
	var r *Result
	var errs Errors
	if action == "decode" {
		r, errs = m.decode(l, f)
	} else {
		r, errs = m.encode(l, f)
	}
	l.logOutcome(action, name, errs)
	return r, errs
}
