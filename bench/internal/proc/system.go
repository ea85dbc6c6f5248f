package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// System is the whole machine's CPU time from /proc/stat's "cpu" line,
// summed over every CPU, in ticks. The kernel's work on received packets
// (the softirq that runs the driver, XDP, the packet sockets' taps,
// netfilter and NFLOG) belongs to no process: it shows only here.
type System struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

// Busy is every non-idle tick.
func (s System) Busy() uint64 {
	return s.User + s.Nice + s.System + s.IRQ + s.SoftIRQ + s.Steal
}

// Ticks converts a number of ticks to a duration.
func Ticks(n uint64) time.Duration { return time.Duration(n) * (time.Second / TicksPerSecond) }

// ParseSystem reads the first ("cpu", all CPUs) line of /proc/stat.
func ParseSystem(b []byte) (System, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 || string(f[0]) != "cpu" {
			continue
		}
		if len(f) < 9 {
			return System{}, fmt.Errorf("/proc/stat cpu line %q: %d fields, want at least 9: %w", trim(sc.Bytes()), len(f), ErrFormat)
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(string(f[i+1]), 10, 64)
			if err != nil || n > maxTicks*1024 {
				return System{}, fmt.Errorf("/proc/stat cpu field %d %q: %w", i+1, f[i+1], ErrFormat)
			}
			v[i] = n
		}
		return System{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}, nil
	}
	return System{}, fmt.Errorf("/proc/stat: no cpu line: %w", ErrFormat)
}

// ReadSystem reads /proc/stat.
func ReadSystem() (System, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return System{}, err
	}
	return ParseSystem(b)
}
