//go:build ignore

// mutate.go derives vectors from the real captures that testdata/capture.sh
// made: tagged copies (the kernel the captures ran on has no 8021q module),
// extension headers the captured traffic lacked, and damaged copies, most of
// them negative. Each says what it was made from and how.
//
//	go run mutate.go
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
)

type derived struct {
	name, from, how, want string
	edit                  func(f []byte) []byte
}

const (
	eth  = 14  // Ethernet header
	ip4  = eth // IPv4 header, 20 bytes in every capture used
	ip6  = eth // IPv6 header, 40 bytes
	tcp4 = ip4 + 20
	udp6 = ip6 + 40
)

var vectors = []derived{
	{"vlan-udp4-knock", "udp4-knock", "802.1Q tag, VLAN 100, inserted", "same",
		func(f []byte) []byte { return insert(f, 12, 0x81, 0x00, 0x00, 100) }},
	{"qinq-tcp6-syn", "tcp6-syn", "802.1ad tag (VLAN 200) and 802.1Q tag (VLAN 300) inserted", "same",
		func(f []byte) []byte { return insert(f, 12, 0x88, 0xa8, 0x00, 200, 0x81, 0x00, 0x01, 0x2c) }},
	{"bad-three-tags", "udp4-knock", "three VLAN tags, one more than the bound", "malformed",
		func(f []byte) []byte {
			return insert(f, 12, 0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3)
		}},
	{"bad-tag-truncated", "udp4-knock", "cut two bytes into an 802.1Q tag", "truncated",
		func(f []byte) []byte { return insert(f, 12, 0x81, 0x00)[:16] }},
	{"udp4-empty-padded", "udp4-empty", "padded to Ethernet's 60-byte minimum", "same",
		func(f []byte) []byte { return append(f, make([]byte, 60-len(f))...) }},
	{"bad-empty", "tcp4-syn", "no bytes at all", "truncated",
		func(f []byte) []byte { return f[:0] }},
	{"bad-eth-short", "tcp4-syn", "cut inside the Ethernet header", "truncated",
		func(f []byte) []byte { return f[:10] }},
	{"bad-ip4-short", "tcp4-syn", "cut inside the IPv4 header", "truncated",
		func(f []byte) []byte { return f[:ip4+12] }},
	{"bad-ip4-ihl", "tcp4-syn", "IPv4 header length 16 bytes", "malformed",
		func(f []byte) []byte { f[ip4] = 0x44; return f }},
	{"bad-ip4-version", "tcp4-syn", "EtherType IPv4, version 6", "malformed",
		func(f []byte) []byte { f[ip4] = 0x65; return f }},
	{"bad-ip4-totlen-small", "tcp4-syn", "IPv4 total length 16, below its header", "malformed",
		func(f []byte) []byte { return put16(f, ip4+2, 16) }},
	{"bad-ip4-totlen-large", "tcp4-syn", "IPv4 total length 1000 in a short frame", "truncated",
		func(f []byte) []byte { return put16(f, ip4+2, 1000) }},
	{"bad-tcp4-cut", "tcp4-syn", "cut inside the TCP header", "truncated",
		func(f []byte) []byte { return f[:tcp4+10] }},
	{"bad-tcp4-options-cut", "tcp4-syn", "cut inside the TCP options (IPv4 length fixed up)", "truncated",
		func(f []byte) []byte { f = f[:tcp4+24]; return put16(f, ip4+2, 20+24) }},
	{"bad-tcp4-doff", "tcp4-syn", "TCP data offset 16 bytes", "malformed",
		func(f []byte) []byte { f[tcp4+12] = 0x40 | f[tcp4+12]&0x0f; return f }},
	{"tcp4-synack", "tcp4-syn", "ACK flag added to the SYN", "not-knock",
		func(f []byte) []byte { f[tcp4+13] |= 0x10; return f }},
	{"tcp4-fin", "tcp4-syn", "flags FIN only", "not-knock",
		func(f []byte) []byte { f[tcp4+13] = 0x01; return f }},
	{"bad-udp4-len-small", "udp4-knock", "UDP length 7", "malformed",
		func(f []byte) []byte { return put16(f, ip4+20+4, 7) }},
	{"bad-udp4-len-large", "udp4-knock", "UDP length 200 in an unfragmented datagram", "truncated",
		func(f []byte) []byte { return put16(f, ip4+20+4, 200) }},
	{"bad-ip6-short", "udp6-knock", "cut inside the IPv6 header", "truncated",
		func(f []byte) []byte { return f[:ip6+30] }},
	{"bad-ip6-plen-large", "udp6-knock", "IPv6 payload length 1000 in a short frame", "truncated",
		func(f []byte) []byte { return put16(f, ip6+4, 1000) }},
	{"bad-ip6-v4mapped-src", "udp6-knock", "source ::ffff:10.77.0.2", "malformed",
		func(f []byte) []byte {
			copy(f[ip6+8:], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 77, 0, 2})
			return f
		}},
	{"udp6-hbh-dstopts", "udp6-knock", "hop-by-hop and destination options headers (PadN) inserted", "same",
		func(f []byte) []byte {
			f = extHeader(f, 60, 6) // destination options, 16 bytes
			return extHeader(f, 0, 0)
		}},
	{"udp6-routing-auth", "udp6-knock", "routing header and authentication header inserted", "same",
		func(f []byte) []byte {
			f = authHeader(f)
			return extHeader(f, 43, 0)
		}},
	{"bad-ip6-ext-chain", "udp6-knock", "nine destination options headers, one more than the bound", "malformed",
		func(f []byte) []byte {
			for range 9 {
				f = extHeader(f, 60, 0)
			}
			return f
		}},
	{"bad-ip6-ext-cut", "udp6-knock", "hop-by-hop header whose length runs past the end", "truncated",
		func(f []byte) []byte { f = extHeader(f, 0, 0); f[udp6+1] = 200; return f }},
	{"ip6-esp", "udp6-knock", "next header ESP", "not-knock",
		func(f []byte) []byte { f[ip6+6] = 50; return f }},
	{"arp-tagged", "arp-request", "802.1Q tag inserted", "not-knock",
		func(f []byte) []byte { return insert(f, 12, 0x81, 0x00, 0x00, 100) }},
}

func main() {
	for _, d := range vectors {
		want, frame := read(d.from)
		if d.want != "same" {
			want = d.want
		}
		var out bytes.Buffer
		fmt.Fprintf(&out, "# %s: derived from %s.hex by mutate.go: %s\n", d.name, d.from, d.how)
		fmt.Fprintf(&out, "# want: %s\n", want)
		enc := hex.EncodeToString(d.edit(frame))
		for len(enc) > 60 {
			out.WriteString(enc[:60] + "\n")
			enc = enc[60:]
		}
		out.WriteString(enc + "\n")
		if err := os.WriteFile(filepath.Join("testdata/vectors", d.name+".hex"), out.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// read returns a captured vector's want and frame.
func read(name string) (want string, frame []byte) {
	b, err := os.ReadFile(filepath.Join("testdata/vectors", name+".hex"))
	if err != nil {
		log.Fatal(err)
	}
	var body strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			want = w
		} else if !strings.HasPrefix(line, "#") {
			body.WriteString(strings.TrimSpace(line))
		}
	}
	frame, err = hex.DecodeString(body.String())
	if err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	return want, frame
}

func insert(f []byte, at int, b ...byte) []byte {
	return append(f[:at:at], append(b, f[at:]...)...)
}

func put16(f []byte, at int, v uint16) []byte {
	binary.BigEndian.PutUint16(f[at:], v)
	return f
}

// extHeader inserts an IPv6 extension header of type typ right after the
// fixed header, (extra+1)*8 bytes long and padded with PadN, and fixes the
// payload length and the chain of next headers.
func extHeader(f []byte, typ byte, extra int) []byte {
	n := (extra + 1) * 8
	h := make([]byte, n)
	h[0], h[1] = f[ip6+6], byte(extra)
	h[2], h[3] = 1, byte(n-4) // PadN option filling the rest
	return chain(f, typ, h)
}

// authHeader inserts a 12-byte authentication header (length field 1).
func authHeader(f []byte) []byte {
	h := make([]byte, 12)
	h[0], h[1] = f[ip6+6], 1
	return chain(f, 51, h)
}

func chain(f []byte, typ byte, h []byte) []byte {
	f = insert(f, udp6, h...)
	f[ip6+6] = typ
	return put16(f, ip6+4, binary.BigEndian.Uint16(f[ip6+4:])+uint16(len(h)))
}
