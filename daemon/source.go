package daemon

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/afpacket"
	"github.com/portknock/knock/source/logfile"
	"github.com/portknock/knock/source/nflog"
)

// SourceOptions are what tests and the demo change.
type SourceOptions struct {
	NetNSFd int // network sources: work in this network namespace
	// Open, when set, opens a packet socket source inside the namespace
	// the caller chooses (afpacket).
	Open func(f func() error) error
}

// newSource builds the knock source sc describes. Adding a source is one
// case here and one package under source/.
func newSource(sc SourceConfig, log *slog.Logger, now func() time.Time, o SourceOptions) (source.Source, error) {
	if sc.Mode == RunFile {
		return logfile.New(logfile.Config{Path: sc.LogFile, Patterns: sc.Patterns, FromStart: sc.FromStart, AnyFlags: sc.AnyFlags, Now: now, Logger: log})
	}
	var span *portspan.Span // nil: datagram ports only
	switch len(sc.Spans) {
	case 0:
	case 1:
		span = sc.Spans[0]
	default:
		return nil, fmt.Errorf("the packet sources watch one knock span, not %d", len(sc.Spans))
	}
	switch sc.Capture {
	case CaptureNFLOG:
		return nflog.New(nflog.Config{Group: sc.NFLOGGrp, Span: span, Extra: sc.Extra, AnyFlags: sc.AnyFlags, DoorUDP: sc.DoorUDP, Drop: sc.Drop, Interface: sc.Interface, NetNSFd: o.NetNSFd, Now: now})
	case CaptureAFPacket:
		var src *afpacket.Source
		open := func() (err error) {
			src, err = afpacket.Open(afpacket.Config{Interface: sc.Interface, Span: span, Extra: append(slices.Clone(sc.Extra), sc.DoorUDP...), AnyFlags: sc.AnyFlags, Now: now})
			return err
		}
		var err error
		if o.Open != nil {
			err = o.Open(open)
		} else {
			err = open()
		}
		return src, err
	}
	return nil, fmt.Errorf("no capture %q", sc.Capture)
}
