package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"strings"

	"github.com/portknock/knock/settings"
)

// newLogger builds the daemon's logger: text or JSON lines, to stderr or
// syslog; -quiet shows warnings and errors only, -debug everything. Keys
// never reach it: no setting carrying a secret is ever logged.
func newLogger(lc LogConfig, stderr io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	switch {
	case lc.Level > 0:
		level = slog.LevelDebug
	case lc.Level < 0:
		level = slog.LevelWarn
	}
	out := stderr
	if lc.To == "syslog" {
		w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "knockdaemon")
		if err != nil {
			return nil, fmt.Errorf("cannot reach syslog: %w", err)
		}
		out = w
	}
	opts := &slog.HandlerOptions{Level: level}
	if lc.Format == "json" {
		opts.ReplaceAttr = secondsAttr
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	}
	return slog.New(slog.NewTextHandler(out, opts)), nil
}

// secondsAttr writes durations as seconds, a number: the JSON handler
// would write nanoseconds, which no reader of a log expects, and the
// text handler's "1m30s" is not a number a log pipeline can compare.
func secondsAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}

// dumpSettings writes every parameter with its value and origin, the key
// masked, for -debug -debug.
func dumpSettings(w io.Writer, set *settings.Set, prog settings.Program) {
	fmt.Fprintf(w, "# settings (file: %s)\n", orNone(set.File))
	for _, p := range settings.Params(prog) {
		if p.CLIOnly {
			continue
		}
		v := set.Get(p.Name)
		text := v.Text
		if p.Kind == settings.List {
			text = strings.Join(v.Values, " | ")
		}
		if p.Secret && text != "" {
			text = "********"
		}
		fmt.Fprintf(w, "%-15s = %-40q # %s\n", p.Name, text, v.Origin)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
