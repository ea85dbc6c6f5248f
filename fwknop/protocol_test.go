package fwknop

import "testing"

// Every reason of this package has its word in the shared vocabulary, so
// no refusal reaches the counters unnamed.
func TestEveryReasonShared(t *testing.T) {
	for _, r := range Reasons {
		if shared[r] == "" {
			t.Errorf("fwknop reason %q has no shared reason", r)
		}
	}
}
