package format

import "time"

// Times are the THIS* fields, each already reduced mod 256 as the knock
// carries them.
type Times struct {
	Year   int // THISYEAR: year mod 256
	Day    int // THISDAY: day of the year (1 January = 1) mod 256
	Hour   int // THISHOUR: 24*day of the month + hour, mod 256
	Minute int // THISMINUTE: 60*hour + minute, mod 256
	Second int // THISSECOND: Unix seconds mod 256
}

// Stamp computes the THIS* fields for t, in t's own location: the prototype
// used local time, so both ends must agree on the time zone.
func Stamp(t time.Time) Times {
	return Times{
		Year:   t.Year() % 256,
		Day:    t.YearDay() % 256,
		Hour:   (24*t.Day() + t.Hour()) % 256,
		Minute: (60*t.Hour() + t.Minute()) % 256,
		Second: int(uint64(t.Unix()) % 256),
	}
}

// get returns the value of time field k.
func (ts Times) get(k Kind) int {
	switch k {
	case ThisYear:
		return ts.Year
	case ThisDay:
		return ts.Day
	case ThisHour:
		return ts.Hour
	case ThisMinute:
		return ts.Minute
	case ThisSecond:
		return ts.Second
	}
	return 0
}

func (ts *Times) set(k Kind, v int) {
	switch k {
	case ThisYear:
		ts.Year = v
	case ThisDay:
		ts.Day = v
	case ThisHour:
		ts.Hour = v
	case ThisMinute:
		ts.Minute = v
	case ThisSecond:
		ts.Second = v
	}
}

// step is the resolution of the finest time field the format carries.
func (f Format) step() time.Duration {
	finest := time.Duration(0)
	for _, fl := range f.fields {
		var d time.Duration
		switch fl.Kind {
		case ThisSecond:
			d = time.Second
		case ThisMinute:
			d = time.Minute
		case ThisHour:
			d = time.Hour
		case ThisDay, ThisYear:
			// Days change at local midnight, which daylight saving time
			// moves: stepping by hours visits every local day.
			d = time.Hour
		default:
			continue
		}
		if finest == 0 || d < finest {
			finest = d
		}
	}
	return finest
}

// Fresh reports whether the time fields in v match some instant within
// window of now (in now's location). A format without time fields is
// always fresh. The check walks the window at the resolution of the finest
// field, so its cost is bounded by window/step evaluations.
func (f Format) Fresh(v Values, now time.Time, window time.Duration) bool {
	step := f.step()
	if step == 0 {
		return true
	}
	if window < 0 {
		window = -window
	}
	// Align to the step so that every distinct value in the window is seen,
	// including the ones at the window's edges.
	start := now.Add(-window).Truncate(step)
	for t := start; !t.After(now.Add(window)); t = t.Add(step) {
		if f.timesMatch(v.Time, Stamp(t)) {
			return true
		}
	}
	// The window's far edge may fall inside a step not yet visited.
	return f.timesMatch(v.Time, Stamp(now.Add(window)))
}

func (f Format) timesMatch(got, want Times) bool {
	for _, fl := range f.fields {
		if fl.Kind >= ThisYear && fl.Kind <= ThisSecond && got.get(fl.Kind) != want.get(fl.Kind) {
			return false
		}
	}
	return true
}
