// Package sourcetest is a fake knock source for unit tests: hits pushed in
// by the test come out of Run.
package sourcetest

import (
	"context"

	"github.com/portknock/knock/source"
)

// Source is a source.Source fed by Push.
type Source struct {
	hits chan source.Hit
}

// New returns a source with room for n pending hits.
func New(n int) *Source { return &Source{hits: make(chan source.Hit, n)} }

// Push queues a hit; it blocks when n hits are pending.
func (s *Source) Push(h source.Hit) { s.hits <- h }

// Run delivers pushed hits until ctx ends.
func (s *Source) Run(ctx context.Context, out chan<- source.Hit) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case h := <-s.hits:
			select {
			case out <- h:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

var _ source.Source = (*Source)(nil)
