package proc

import (
	"errors"
	"testing"
)

func TestParseSystem(t *testing.T) {
	good := "cpu  100 2 300 4000 5 6 70 8 0 0\ncpu0 50 1 150 2000 2 3 35 4 0 0\nintr 1 2 3\n"
	s, err := ParseSystem([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := System{User: 100, Nice: 2, System: 300, Idle: 4000, IOWait: 5, IRQ: 6, SoftIRQ: 70, Steal: 8}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	if s.Busy() != 100+2+300+6+70+8 {
		t.Fatalf("busy %d", s.Busy())
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3\n", "cpu 1 2 3 4 5 6 x 8\n", "cpu 1 2 3 4 5 6 -7 8\n"} {
		if _, err := ParseSystem([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: got %v, want ErrFormat", bad, err)
		}
	}
}
