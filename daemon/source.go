package daemon

import (
	"log/slog"
	"strings"
	"time"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/settings"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/logfile"
)

// SourceOptions are what tests and the demo change.
type SourceOptions struct {
	NetNSFd int // network sources: work in this network namespace
	// Open, when set, opens a packet socket source inside the namespace
	// the caller chooses (afpacket).
	Open func(f func() error) error
}

// newSource builds the knock source runmode names.
func newSource(set *settings.Set, span *portspan.Span, extra []uint16, log *slog.Logger, now func() time.Time, o SourceOptions) (source.Source, error) {
	switch mode := strings.ToLower(set.String("runmode")); mode {
	case "file":
		patterns := set.List("pattern", false)
		if ff := set.String("fileformat"); ff != "" {
			p, err := logfile.PatternFor(ff)
			if err != nil {
				return nil, set.Errorf("fileformat", "%v", err)
			}
			patterns = append(patterns, p)
		}
		if len(patterns) > 0 && len(set.List("pattern", false)) == 0 {
			patterns = append(patterns, logfile.DefaultPatterns...)
		}
		src, err := logfile.New(logfile.Config{Path: set.Path("logfile"), Patterns: patterns, FromStart: set.Bool("fromstart"), Now: now, Logger: log})
		if err != nil {
			name := "logfile"
			if strings.Contains(err.Error(), "pattern") {
				name = "pattern"
			}
			return nil, set.Errorf(name, "%v", err)
		}
		return src, nil
	case "network":
		return newNetworkSource(set, span, extra, log, now, o)
	default:
		return nil, set.Errorf("runmode", "expected file or network")
	}
}
