package service

import (
	"log/slog"
	"time"

	"github.com/portknock/knock/settings"
	"github.com/portknock/knock/source"
)

func newNetworkSource(set *settings.Set, watch []uint16, log *slog.Logger, now func() time.Time, o SourceOptions) (source.Source, error) {
	return nil, set.Errorf("runmode", "network capture is not built yet: use runmode = file")
}
