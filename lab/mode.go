package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// A mode is one kind of knock the lab builds and reads. The page and the
// API know only this interface and the Form: each mode reads the fields it
// needs and names them in its errors. The context is the request's, for
// work worth abandoning when the client has gone (deriving a passphrase's
// key).
type mode interface {
	encode(ctx context.Context, l *Lab, f Form) (*Result, Errors)
	decode(ctx context.Context, l *Lab, f Form) (*Result, Errors)
}

// defaultMode is the mode of a form that names none: the prototype's, as
// the page was before the sealed knock, so that old scripts keep working.
const defaultMode = "legacy"

var modes = map[string]mode{
	"legacy": legacyMode{},
	"sealed": sealedMode{},
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

// modeName is the mode a form names, lower case, or the default.
func modeName(f Form) string {
	name := strings.ToLower(strings.TrimSpace(f.Mode))
	if name == "" {
		return defaultMode
	}
	return name
}

// run encodes or decodes a form in the mode it names. A decode that fails
// may still return a Result: the stages it reached, shown beside the error.
func (l *Lab) run(ctx context.Context, action string, f Form) (*Result, Errors) {
	name := modeName(f)
	m, ok := modes[name]
	if !ok {
		return nil, unknownMode(f)
	}
	var r *Result
	var errs Errors
	if action == "decode" {
		r, errs = m.decode(ctx, l, f)
	} else {
		r, errs = m.encode(ctx, l, f)
	}
	l.logOutcome(action, name, errs)
	return r, errs
}

func unknownMode(f Form) Errors {
	return Errors{"mode": fmt.Sprintf("unknown mode %q: the lab knows %s", f.Mode, strings.Join(modeNames(), ", "))}
}
