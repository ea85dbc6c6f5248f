package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock/internal/testenv"
)

// The README's first command must work: both stories, start to end.
func TestLogFileStory(t *testing.T) {
	var out strings.Builder
	s := &story{out: &out, start: time.Now(), grant: time.Second}
	if err := s.logFile(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"tcp/22 closed to everyone", "knock accepted", "192.0.2.7 may connect to tcp/22"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the story lacks %q:\n%s", want, out.String())
		}
	}
}

func TestNetworkStory(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "nft", "apt-get install nftables")
	var out strings.Builder
	s := &story{out: &out, start: time.Now(), grant: time.Second}
	if err := s.network(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"the port is closed", "knock accepted", "connected,", "after the grant: the port is closed", "namespaces removed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the story lacks %q:\n%s", want, out.String())
		}
	}
}
