package main

import (
	"slices"
)

// The spans of the knock-count table: 2^8, 2^12 and 2^15 ports.
const (
	span256   = "2000-2255"
	span4096  = "10000-14095"
	span32768 = "1024-5000,6000-25000,26000-35789"
)

// portsVector is a message as a port sequence; sealed holds the bytes
// the ports must decode to.
func portsVector(name, comment, span string, m msg, now int64) *vector {
	b, id := seal(keyA, m)
	v := newVector(name, comment, now).set("span", span).set("ports", portsText(mustSpan(span).Pack(b)))
	if m.implicit {
		v.set("source", m.addr.String())
	}
	return v.set("sealed", hexOf(b)).set("expect", "ok").expectFields(m, id)
}

func badPorts(name, comment, span string, ports []uint16, expect string) *vector {
	return newVector(name, comment, t0).set("span", span).set("ports", portsText(ports)).set("expect", expect)
}

func portVectors() []*vector {
	b, _ := seal(keyA, v4)
	p4096 := mustSpan(span4096).Pack(b)
	changed := slices.Clone(p4096)
	changed[6] ^= 1 // inside the body
	outside := slices.Clone(p4096)
	outside[2] = 9999
	last := slices.Clone(p4096)
	last[len(last)-1] = 10000 + 16 // the last port carries 4 bits: index 16 is too big
	return []*vector{
		portsVector("ok-ports-ipv4-span256", "IPv4 message on 256 ports: one port per byte.", span256, v4, t0),
		portsVector("ok-ports-ipv4-span4096", "IPv4 message on 4096 ports.", span4096, v4, t0),
		portsVector("ok-ports-ipv4-span32768", "IPv4 message on 32768 ports, a span of three ranges.", span32768, v4, t0),
		portsVector("ok-ports-ipv6-span4096", "IPv6 message on 4096 ports.", span4096, v6, t0),
		portsVector("ok-ports-implicit-span32768", "Implicit-address message on 32768 ports.", span32768, im, t0),
		badPorts("bad-ports-one-missing", "The last port of a 4096-port knock missing.", span4096, p4096[:len(p4096)-1], "malformed"),
		badPorts("bad-ports-one-changed", "One port of the body changed.", span4096, changed, "auth"),
		badPorts("bad-ports-outside-span", "A port outside the span.", span4096, outside, "malformed"),
		badPorts("bad-ports-last-symbol", "The last port holds more bits than are left.", span4096, last, "malformed"),
	}
}

func spaVectors() []*vector {
	b, id := seal(keyA, v4)
	imb, imid := seal(keyA, im)
	spa := func(msg []byte) []byte { return append([]byte("KNK\x01"), msg...) }
	badMagic := spa(b)
	badMagic[3] = 2
	s := func(name, comment string, d []byte, expect string) *vector {
		return newVector(name, comment, t0).set("spa", hexOf(d)).set("expect", expect)
	}
	return []*vector{
		s("ok-spa-ipv4", "SPA datagram with an IPv4 message.", spa(b), "ok").expectFields(v4, id),
		s("ok-spa-implicit", "SPA datagram with an implicit address: the UDP source.", spa(imb), "ok").set("source", im.addr.String()).expectFields(im, imid),
		s("bad-spa-magic", "SPA datagram whose magic names framing version 2.", badMagic, "malformed"),
		s("bad-spa-no-magic", "A bare message, without the SPA magic.", b, "malformed"),
		s("bad-spa-truncated", "SPA datagram one byte short.", spa(b)[:len(b)+3], "malformed"),
		s("bad-spa-extended", "SPA datagram with a byte after the message.", append(spa(b), 0), "malformed"),
		s("bad-spa-magic-only", "The SPA magic alone.", spa(nil), "malformed"),
	}
}
