package client_test

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/portknock/knock"
	"github.com/portknock/knock/client"
	"github.com/portknock/knock/client/clienttest"
	"github.com/portknock/knock/legacy"
)

// BenchmarkDecodeArgument: -decode's text to JSON-ready fields, V1.
func BenchmarkDecodeArgument(b *testing.B) {
	codec, err := legacy.New(legacy.Config{Format: "CLIENT,PORT,FLAG0,CHECKSUM", Cipher: "Blowfish", Key: "knock", Span: "745-1000"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ports, _ := client.ParseSequence("966 914 795 964 831 862 807 932")
		if _, err := client.DecodeLegacy(codec, ports); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogLine: one knock appended to a log file.
func BenchmarkLogLine(b *testing.B) {
	s, err := client.OpenFileSender(filepath.Join(b.TempDir(), "kern.log"), "", netip.MustParseAddr("10.1.1.1"), remote, clienttest.NewClock(start), clienttest.NewRand(0))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if err := s.Send(client.Packet{Proto: knock.TCP, Port: 966}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSend: one knock to this machine's loopback (nothing listens on
// port 1), through the real sockets: a SYN, or a datagram.
func BenchmarkSend(b *testing.B) {
	for _, proto := range []knock.Proto{knock.TCP, knock.UDP} {
		b.Run(string(proto), func(b *testing.B) {
			s, err := client.System{}.Sender(netip.MustParseAddr("127.0.0.1"))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := s.Send(client.Packet{Proto: proto, Port: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
