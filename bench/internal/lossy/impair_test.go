package lossy

import (
	"math"
	"testing"
	"time"
)

func TestDecideMatchesConfig(t *testing.T) {
	cfg := Config{Loss: 0.05, Delay: 20 * time.Millisecond, Jitter: 20 * time.Millisecond, Reorder: 0.05}
	im := NewImpairer(cfg, 1)
	const n = 200000
	var lost, immediate int
	var sum time.Duration
	for i := 0; i < n; i++ {
		drop, d := im.Decide()
		switch {
		case drop:
			lost++
		case d == 0:
			immediate++
		default:
			if d < 0 || d > 40*time.Millisecond {
				t.Fatalf("delay %s outside 0..40ms", d)
			}
			sum += d
		}
	}
	if share := float64(lost) / n; math.Abs(share-0.05) > 0.005 {
		t.Errorf("lost %.4f, want 0.05", share)
	}
	if share := float64(immediate) / float64(n-lost); math.Abs(share-0.05) > 0.005 {
		t.Errorf("sent at once %.4f, want 0.05", share)
	}
	if mean := sum / time.Duration(n-lost-immediate); mean < 19*time.Millisecond || mean > 21*time.Millisecond {
		t.Errorf("mean delay %s, want 20ms", mean)
	}
}

func TestSetAndZero(t *testing.T) {
	im := NewImpairer(Config{}, 2)
	for i := 0; i < 1000; i++ {
		if drop, d := im.Decide(); drop || d != 0 {
			t.Fatal("an unimpaired link dropped or delayed a frame")
		}
	}
	im.Set(Config{Loss: 1})
	if drop, _ := im.Decide(); !drop {
		t.Error("loss 100% kept a frame")
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []Config{{Loss: -0.1}, {Loss: 1.5}, {Reorder: 2}, {Delay: -time.Second}, {Jitter: -1}} {
		if c.Check() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if (Config{Loss: 0.05, Delay: time.Millisecond}).Check() != nil {
		t.Error("a sane config refused")
	}
}
