package main

import (
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/portknock/knock/client/clienttest"
	"github.com/portknock/knock/logline"
	"github.com/portknock/knock/source/logfile"
)

// TestLogToFileReadByDaemon: what knockclient writes with logtofile, in
// its default fileformat and in the prototype's, the daemon's parser reads
// back as the knock: the client's address, the ports in order.
func TestLogToFileReadByDaemon(t *testing.T) {
	custom := "_DATE_ fw kernel: IN=eth0 OUT= SRC=_CLIENT_ DST=_REMOTE_ PROTO=TCP SPT=_CLIENTPORT_ DPT=_REMOTEPORT_"
	pattern, err := logline.PatternFor(custom)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		format   string
		patterns []string
	}{
		{"default", "", logfile.DefaultPatterns},
		{"original", custom, []string{pattern}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kern.log")
			args := []string{"-conf", original, "-logtofile", "-logfile", path, "-fileformat", tc.format}
			if status := run(context.Background(), args, io.Discard, os.Stderr); status != exitOK {
				t.Fatalf("status %d", status)
			}
			hits, err := clienttest.ReadLog(path, tc.patterns)
			if err != nil {
				t.Fatal(err)
			}
			var ports []uint16
			for _, hit := range hits {
				if hit.Src != netip.MustParseAddr("142.103.205.1") || hit.Dst != netip.MustParseAddr("192.0.2.1") || hit.Proto != "tcp" {
					t.Fatalf("read as %+v", hit)
				}
				ports = append(ports, hit.Port)
			}
			if !slices.Equal(ports, v1) {
				t.Fatalf("ports %v, want %v", ports, v1)
			}
		})
	}
}
