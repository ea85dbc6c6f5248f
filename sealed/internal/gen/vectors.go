package main

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// The messages most vectors start from.
var (
	v4 = msg{addr: netip.MustParseAddr("203.0.113.7"), port: 22, code: 0x45, time: t0, nonce: 0x1234}                       // tcp, 5 min
	v6 = msg{addr: netip.MustParseAddr("2001:db8::7"), port: 443, code: 0x81, time: t0, nonce: 0x0001}                      // tcp, 1 h
	im = msg{addr: netip.MustParseAddr("198.51.100.9"), implicit: true, port: 8443, udp: true, time: t0 + 7, nonce: 0x3fff} // udp, default
)

// Where fields sit in a message with an IPv4 address (header, 4 address
// bytes, body, tag): the bit to flip for each field.
const (
	offAddr = 1
	offBody = 5
	offTag  = 12
)

var units = []time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour}

func durationText(code byte) string {
	return (units[code>>6] * time.Duration(code&63)).String()
}

func newVector(name, comment string, now int64) *vector {
	v := &vector{name: name, comment: comment}
	return v.set("key", keyText(keyA)).set("now", fmt.Sprint(now)).set("window", "60")
}

// ok is a vector that opens, with every field it must open to.
func ok(name, comment string, m msg, now int64) *vector {
	b, id := seal(keyA, m)
	v := newVector(name, comment, now)
	if m.implicit {
		v.set("source", m.addr.String())
	}
	return v.set("sealed", hexOf(b)).set("expect", "ok").expectFields(m, id)
}

func (v *vector) expectFields(m msg, id []byte) *vector {
	proto := "tcp"
	if m.udp {
		proto = "udp"
	}
	return v.set("client", m.addr.String()).set("implicit", yesNo(m.implicit)).
		set("port", fmt.Sprint(m.port)).set("proto", proto).set("duration", durationText(m.code)).
		set("close", yesNo(m.close)).set("time", fmt.Sprint(m.time)).set("nonce", fmt.Sprint(m.nonce)).
		set("replay-id", hexOf(id))
}

// bad is a vector whose bytes must fail for the reason expect names.
func bad(name, comment string, b []byte, now int64, expect string) *vector {
	return newVector(name, comment, now).set("sealed", hexOf(b)).set("expect", expect)
}

// flip returns b with bit (mask) of byte i flipped.
func flip(b []byte, i int, mask byte) []byte {
	b = slices.Clone(b)
	b[i] ^= mask
	return b
}

func vectors() []*vector {
	var vs []*vector
	vs = append(vs, positives()...)
	vs = append(vs, flips()...)
	vs = append(vs, others()...)
	vs = append(vs, authenticOutOfRange()...)
	vs = append(vs, portVectors()...)
	vs = append(vs, spaVectors()...)
	vs = append(vs, keyVectors()...)
	return vs
}

func positives() []*vector {
	closeUDP := msg{addr: v4.addr, port: 53, udp: true, close: true, time: t0, nonce: 7}
	longest := v4
	longest.code = 0xff // 63 days
	wrap := v4
	wrap.time = t0 - t0%65536 + 65530 // low 16 bits 65530
	return []*vector{
		ok("ok-ipv4", "IPv4 client, tcp 22 for 5 minutes.", v4, t0+3),
		ok("ok-ipv6", "IPv6 client, tcp 443 for an hour.", v6, t0-2),
		ok("ok-implicit", "Implicit address, authenticated as the source; udp 8443, the daemon's default duration.", im, t0),
		ok("ok-close", "Close udp 53.", closeUDP, t0),
		ok("ok-duration-63d", "The longest duration: 63 days.", longest, t0),
		ok("ok-window-edge-past", "Sealed exactly one window (60 s) before now: still in.", v4, t0+60),
		ok("ok-window-edge-future", "Sealed exactly one window after now: still in.", v4, t0-60),
		ok("ok-time-wrap", "The low 16 bits of the time wrap between sealing (65530) and now (+10).", wrap, wrap.time+10),
	}
}

func flips() []*vector {
	b, _ := seal(keyA, v4)
	b6, _ := seal(keyA, v6)
	a := func(name, what string, i int, mask byte) *vector {
		return bad("bad-flip-"+name, "One bit flipped in the "+what+".", flip(b, i, mask), t0+3, "auth")
	}
	return []*vector{
		a("client", "client address (in clear, authenticated)", offAddr+3, 0x01),
		bad("bad-flip-client-ipv6", "One bit flipped in an IPv6 client address.", flip(b6, 16, 0x01), t0, "auth"),
		a("time", "encrypted timestamp", offBody+1, 0x01),
		a("port", "encrypted port", offBody+3, 0x01),
		a("duration", "encrypted duration code", offBody+4, 0x01),
		a("close", "encrypted close flag", offBody+5, 0x80),
		a("proto", "encrypted protocol flag", offBody+5, 0x40),
		a("nonce", "encrypted nonce", offBody+6, 0x01),
		a("tag", "tag", offTag+7, 0x01),
		bad("bad-flip-header-type", "The header's address type changed from IPv4 to IPv6: the length no longer fits.", flip(b, 0, 0x03), t0+3, "malformed"),
	}
}

func others() []*vector {
	b, _ := seal(keyA, v4)
	other, _ := seal(keyB, v4)
	imb, _ := seal(keyA, im)
	v2 := flip(b, 0, 0x30) // 0x11 -> 0x21
	return []*vector{
		bad("bad-wrong-key", "Sealed under another key.", other, t0, "auth"),
		bad("bad-expired", "Sealed 61 s before now, window 60 s.", b, t0+61, "expired"),
		bad("bad-future", "Sealed 61 s after now, window 60 s.", b, t0-61, "future"),
		bad("bad-beyond-time-range", "Sealed 40000 s before now: the 16-bit time reads as 25536 s ahead, and the MAC fails.", b, t0+40000, "auth"),
		bad("bad-replay", "The same message twice: the first opens, the second is a replay.", b, t0+3, "replay").set("times", "2"),
		bad("bad-truncated", "The last byte cut off.", b[:len(b)-1], t0, "malformed"),
		bad("bad-extended", "A byte appended.", append(slices.Clone(b), 0), t0, "malformed"),
		bad("bad-wrong-version", "Header 0x21: version 2.", v2, t0, "malformed"),
		bad("bad-version-zero", "Header 0x01: version 0.", flip(b, 0, 0x10), t0, "malformed"),
		bad("bad-reserved-bits", "Header 0x15: a reserved bit set.", flip(b, 0, 0x04), t0, "malformed"),
		bad("bad-reserved-type", "Header 0x13: address type 3.", flip(b, 0, 0x02), t0, "malformed"),
		bad("bad-empty", "No bytes at all.", nil, t0, "malformed"),
		bad("bad-implicit-wrong-source", "Implicit address, arriving from another source.", imb, t0, "auth").set("source", "198.51.100.10"),
		bad("bad-implicit-no-source", "Implicit address, and no source given.", imb, t0, "auth"),
	}
}

// authenticOutOfRange: authentic messages no client of this version
// seals. Only a key holder can make them; they are refused all the same.
func authenticOutOfRange() []*vector {
	port0 := v4
	port0.port = 0
	nonCanon := v4
	nonCanon.code = 0x3c // 60 seconds, which is coded as 1 minute (0x41)
	zeroCount := v4
	zeroCount.code = 0x40 // minutes, count 0
	closeDur := v4
	closeDur.close = true
	mapped := v6
	mapped.addr = netip.MustParseAddr("::ffff:203.0.113.7")
	unspecified := v4
	unspecified.addr = netip.IPv4Unspecified()
	s := func(m msg) []byte { b, _ := seal(keyA, m); return b }
	return []*vector{
		bad("bad-authentic-port0", "Authentic, but port 0.", s(port0), t0, "malformed"),
		bad("bad-authentic-duration-noncanonical", "Authentic, but 1 minute coded as 60 seconds.", s(nonCanon), t0, "malformed"),
		bad("bad-authentic-duration-zero-count", "Authentic, but duration code 0x40 (0 minutes).", s(zeroCount), t0, "malformed"),
		bad("bad-authentic-close-with-duration", "Authentic, but a close with a duration.", s(closeDur), t0, "malformed"),
		bad("bad-authentic-ipv4-mapped", "Authentic, but an IPv4-mapped address in an IPv6 message (IPv4 is sealed as IPv4).", s(mapped), t0, "malformed"),
		bad("bad-authentic-unspecified", "Authentic, but client 0.0.0.0, which opens for nobody.", s(unspecified), t0, "malformed"),
	}
}
