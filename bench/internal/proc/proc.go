// Package proc reads what the kernel accounts to a process: CPU time from
// /proc/PID/stat and memory from /proc/PID/status. The harness compares
// daemons by CPU time, not wall time, because the machine is shared: a
// daemon waiting for a CPU that another engineer's tests hold costs wall
// time, but no CPU time.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// TicksPerSecond is USER_HZ, the unit of /proc/PID/stat's times: 100 on
// every Linux architecture the harness runs on (the kernel fixes it for
// user space, whatever its internal HZ).
const TicksPerSecond = 100

// ErrFormat marks a /proc file that does not read as expected.
var ErrFormat = errors.New("unexpected /proc format")

// Stat is the CPU time of a process and of its children it has waited
// for, in ticks.
type Stat struct {
	Utime, Stime   uint64
	Cutime, Cstime uint64
}

// CPU is the process's own CPU time plus its waited-for children's (the
// firewall commands knockd and fwknopd run are children).
func (s Stat) CPU() time.Duration {
	t := s.Utime + s.Stime + s.Cutime + s.Cstime
	return time.Duration(t) * (time.Second / TicksPerSecond)
}

// Own is the process's own CPU time, without children.
func (s Stat) Own() time.Duration {
	return time.Duration(s.Utime+s.Stime) * (time.Second / TicksPerSecond)
}

// maxTicks bounds a time field (about 21 years), so that sums of them
// cannot overflow a time.Duration.
const maxTicks = 1 << 36

// ParseStat reads /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("stat %q: no command name: %w", trim(b), ErrFormat)
	}
	f := bytes.Fields(b[i+1:])
	// After the name: state(3) ... utime(14) stime(15) cutime(16) cstime(17).
	const first = 3
	if len(f) < 17-first+1 {
		return Stat{}, fmt.Errorf("stat %q: %d fields: %w", trim(b), len(f)+2, ErrFormat)
	}
	var s Stat
	for j, dst := range []*uint64{&s.Utime, &s.Stime, &s.Cutime, &s.Cstime} {
		v, err := strconv.ParseInt(string(f[14-first+j]), 10, 64)
		if err != nil || v < 0 || v > maxTicks {
			return Stat{}, fmt.Errorf("stat field %d %q: %w", 14+j, f[14-first+j], ErrFormat)
		}
		*dst = uint64(v)
	}
	return s, nil
}

// Status is the memory of a process, in KiB.
type Status struct {
	VmHWM uint64 `json:"vm_hwm_kib"` // peak resident set
	VmRSS uint64 `json:"vm_rss_kib"` // resident set now
}

// ParseStatus reads /proc/PID/status.
func ParseStatus(b []byte) (Status, error) {
	var s Status
	found := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(k) {
		case "VmHWM":
			dst = &s.VmHWM
		case "VmRSS":
			dst = &s.VmRSS
		default:
			continue
		}
		num, unit, _ := bytes.Cut(bytes.TrimSpace(v), []byte(" "))
		n, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil || string(bytes.TrimSpace(unit)) != "kB" {
			return Status{}, fmt.Errorf("status %s %q: %w", k, bytes.TrimSpace(v), ErrFormat)
		}
		*dst = n
		found++
	}
	if found < 2 {
		return Status{}, fmt.Errorf("status: VmHWM or VmRSS missing: %w", ErrFormat)
	}
	return s, nil
}

// Sample is one reading of a process.
type Sample struct {
	Stat
	Status
}

// Read samples process pid.
func Read(pid int) (Sample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Sample{}, err
	}
	st, err := ParseStat(b)
	if err != nil {
		return Sample{}, err
	}
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Sample{}, err
	}
	ss, err := ParseStatus(b)
	return Sample{st, ss}, err
}

func trim(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// Load reads the 1, 5 and 15 minute load averages from /proc/loadavg.
func Load() ([3]float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return [3]float64{}, err
	}
	return ParseLoadavg(b)
}

// ParseLoadavg reads /proc/loadavg.
func ParseLoadavg(b []byte) ([3]float64, error) {
	var l [3]float64
	f := bytes.Fields(b)
	if len(f) < 3 {
		return l, fmt.Errorf("loadavg %q: %w", trim(b), ErrFormat)
	}
	for i := range l {
		v, err := strconv.ParseFloat(string(f[i]), 64)
		if err != nil || v < 0 {
			return l, fmt.Errorf("loadavg %q: %w", f[i], ErrFormat)
		}
		l[i] = v
	}
	return l, nil
}
