// Package replaytest is a fake replay store for the engine's unit tests:
// it keeps the contract of replay.Cache.Claim and Horizon (see package
// replay) in memory, and can be told to fail.
package replaytest

import (
	"sync"
	"time"

	"github.com/portknock/knock/replay"
)

// Store is an in-memory replay store. The zero value is ready; it is safe
// for concurrent use.
type Store struct {
	mu      sync.Mutex
	Now     func() time.Time // the clock (time.Now when nil)
	entries map[replay.ID]time.Time
	horizon time.Time
	fail    error
	claims  []replay.ID
}

// Claim records id until until and reports whether it was new; it fails
// with the error given to Fail, recording nothing.
func (s *Store) Claim(id replay.ID, until time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return false, s.fail
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if exp, ok := s.entries[id]; ok && exp.After(now()) {
		return false, nil
	}
	if s.entries == nil {
		s.entries = make(map[replay.ID]time.Time)
	}
	s.entries[id] = until
	s.claims = append(s.claims, id)
	return true, nil
}

// Horizon returns what SetHorizon set (the zero time at first).
func (s *Store) Horizon() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.horizon
}

// SetHorizon sets the horizon, as a store that lost its past would.
func (s *Store) SetHorizon(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.horizon = t
}

// Fail makes every later Claim fail with err (nil: succeed again), as a
// full disk would.
func (s *Store) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Claims lists the fresh claims, in order.
func (s *Store) Claims() []replay.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]replay.ID(nil), s.claims...)
}
