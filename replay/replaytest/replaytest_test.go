package replaytest_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portknock/knock/replay"
	"github.com/portknock/knock/replay/replaytest"
)

// store is the engine's side of the contract: the real cache and the fake
// both keep it.
type store interface {
	Claim(id replay.ID, until time.Time) (bool, error)
	Horizon() time.Time
}

var (
	_ store = (*replay.Cache)(nil)
	_ store = (*replaytest.Store)(nil)
)

func TestFake(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	s := &replaytest.Store{Now: func() time.Time { return now }}
	id := replay.ID{1}
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if ok, err := s.Claim(id, now.Add(time.Minute)); ok && err == nil {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d fresh claims of one ID, want 1", fresh.Load())
	}
	full := errors.New("no space left on device")
	s.Fail(full)
	if ok, err := s.Claim(replay.ID{2}, now.Add(time.Minute)); ok || !errors.Is(err, full) {
		t.Fatalf("failing store: fresh %v, err %v", ok, err)
	}
	s.Fail(nil)
	if ok, _ := s.Claim(replay.ID{2}, now.Add(time.Minute)); !ok {
		t.Fatal("a failed claim was recorded")
	}
	now = now.Add(2 * time.Minute)
	if ok, _ := s.Claim(id, now.Add(time.Minute)); !ok {
		t.Fatal("an expired ID is still held")
	}
	if !s.Horizon().IsZero() {
		t.Fatal("horizon set without SetHorizon")
	}
	s.SetHorizon(now)
	if !s.Horizon().Equal(now) {
		t.Fatal("SetHorizon did not set it")
	}
}
