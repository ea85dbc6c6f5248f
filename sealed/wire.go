package sealed

import (
	"time"
)

// Sizes of a whole message by address type.
const (
	SizeImplicit = HeaderSize + BodySize + TagSize // 16
	SizeIPv4     = SizeImplicit + 4                // 20
	SizeIPv6     = SizeImplicit + 16               // 32
)

// sizes lists the message sizes of version 1, shortest first.
var sizes = [...]int{SizeImplicit, SizeIPv4, SizeIPv6}

// allSizes lists the message sizes of every version, shortest first.
var allSizes = [...]int{SizeImplicit, SizeV2Implicit, SizeIPv4, SizeV2IPv4, SizeIPv6, SizeV2IPv6}

// Body flags, in the last two body bytes with the nonce.
const (
	flagClose = 1 << 15
	flagUDP   = 1 << 14
)

// The duration code is one byte: a unit in its top two bits and a count
// of 1-63 in the rest; 0 is the daemon's default. A duration is coded in
// the coarsest unit that holds it exactly (an hour is 1 hour, not 60
// minutes), and only that code is accepted.
var durationUnits = [4]time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour}

const durationCountMax = 63

// MaxDuration is the longest duration a message can carry: 63 days.
const MaxDuration = durationCountMax * 24 * time.Hour

func durationCode(d time.Duration) (byte, bool) {
	if d == 0 {
		return 0, true
	}
	for u := len(durationUnits) - 1; u >= 0; u-- {
		unit := durationUnits[u]
		if d > 0 && d%unit == 0 && d/unit <= durationCountMax {
			return byte(u<<6) | byte(d/unit), true
		}
	}
	return 0, false
}

func durationOf(code byte) (time.Duration, bool) {
	d := durationUnits[code>>6] * time.Duration(code&durationCountMax)
	canon, _ := durationCode(d)
	return d, canon == code
}

// RoundDuration returns the shortest duration a message can carry that
// is at least d: 90s gives 2m, 64m gives 2h. It is MaxDuration beyond
// that, and 0 for d <= 0.
func RoundDuration(d time.Duration) time.Duration {
	switch {
	case d <= 0:
		return 0
	case d >= MaxDuration:
		return MaxDuration
	}
	for _, unit := range durationUnits {
		if n := (d + unit - 1) / unit; n <= durationCountMax {
			return n * unit
		}
	}
	return MaxDuration
}

// header is the first byte: version and address type.
func header(typ byte) byte { return Version<<4 | typ }

// SizeOf returns the message size a header byte announces, version 1 or
// 2, or 0 for a header of another version, reserved bits (version 1) or
// unknown flags (version 2) set, or a reserved address type. The daemon
// uses it as a cheap first look at a candidate knock.
func SizeOf(h byte) int {
	if h&0x0c != 0 || h&3 > AddrIPv6 {
		return 0
	}
	switch h >> 4 {
	case Version:
		return sizes[h&3]
	case Version2:
		return sizesV2[h&3]
	}
	return 0
}
