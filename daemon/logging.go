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
func newLogger(set *settings.Set, stderr io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	switch {
	case set.Int("debug") > 0:
		level = slog.LevelDebug
	case set.Bool("quiet"):
		level = slog.LevelWarn
	}
	out := stderr
	switch to := strings.ToLower(set.String("logto")); to {
	case "stderr", "":
	case "syslog":
		w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "knockdaemon")
		if err != nil {
			return nil, set.Errorf("logto", "cannot reach syslog: %v", err)
		}
		out = w
	default:
		return nil, set.Errorf("logto", "expected stderr or syslog")
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f := strings.ToLower(set.String("logformat")); f {
	case "text", "":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	default:
		return nil, set.Errorf("logformat", "expected text or json")
	}
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
