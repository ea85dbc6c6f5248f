package legacy_test

import (
	"net/netip"
	"testing"

	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/legacy"
)

// benchFormat has 8 fields (11 bytes): one block for 16-byte-block ciphers,
// two for 8-byte-block ones.
const benchFormat = "CLIENT,PORT,FLAG0,FLAG1,RAND,THISHOUR,THISMINUTE,CHECKSUM"

func benchCodec(b *testing.B, cipher string) *legacy.Codec {
	c, err := legacy.New(legacy.Config{Format: benchFormat, Cipher: cipher, Key: "correct horse battery staple", Span: "2000-2255"})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

var benchValues = legacy.Values{Client: netip.MustParseAddr("192.0.2.77"), Port: 22, Flags: map[int]int{0: 15, 1: 1}}

func BenchmarkEncode(b *testing.B) {
	for _, name := range append([]string{"none"}, cbc.Names()...) {
		b.Run(name, func(b *testing.B) {
			c := benchCodec(b, name)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Encode(benchValues); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range append([]string{"none"}, cbc.Names()...) {
		b.Run(name, func(b *testing.B) {
			c := benchCodec(b, name)
			ports, err := c.Encode(benchValues)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Decode(ports); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeGarbage is the daemon's common case: a sequence of the
// right length that is not a knock.
func BenchmarkDecodeGarbage(b *testing.B) {
	c := benchCodec(b, "Blowfish")
	ports := []uint16{2001, 2002, 2003, 2004, 2005, 2006, 2007, 2008, 2009, 2010, 2011, 2012, 2013, 2014, 2015, 2016}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(ports); err == nil {
			b.Fatal("garbage decoded")
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for _, name := range cbc.Names() {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				benchCodec(b, name)
			}
		})
	}
}
