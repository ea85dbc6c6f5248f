package daemon

import (
	"log/slog"
	"strings"
	"time"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/settings"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/afpacket"
	"github.com/portknock/knock/source/nflog"
)

func newNetworkSource(set *settings.Set, span *portspan.Span, extra []uint16, log *slog.Logger, now func() time.Time, o SourceOptions) (source.Source, error) {
	switch c := strings.ToLower(set.String("capture")); c {
	case "nflog":
		g := set.Int("nfloggroup")
		if g < 1 || g > 65535 {
			return nil, set.Errorf("nfloggroup", "expected a group from 1 to 65535")
		}
		src, err := nflog.New(nflog.Config{Group: uint16(g), Span: span, Extra: extra, Drop: set.Bool("silent") && !set.Bool("test"), Interface: set.String("interface"), NetNSFd: o.NetNSFd, Now: now})
		if err != nil {
			return nil, set.Errorf("capture", "%v", err)
		}
		return src, nil
	case "afpacket":
		if set.String("interface") == "" {
			return nil, set.Missing("interface", "capture = afpacket listens on one interface: name it")
		}
		var src *afpacket.Source
		open := func() (err error) {
			src, err = afpacket.Open(afpacket.Config{Interface: set.String("interface"), Span: span, Extra: extra, Now: now})
			return err
		}
		var err error
		if o.Open != nil {
			err = o.Open(open)
		} else {
			err = open()
		}
		if err != nil {
			return nil, set.Errorf("interface", "%v", err)
		}
		return src, nil
	default:
		return nil, set.Errorf("capture", "expected nflog or afpacket")
	}
}
