package fwknop

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portknock/knock"
)

// Protocol is fwknop's single-packet authorization as the daemon's engine
// reads it: datagrams to one UDP port, decided by a Matcher.
type Protocol struct {
	Matcher *Matcher
	Port    uint16 // the UDP port SPA packets go to (fwknop's default 62201)
}

// Name implements engine.Protocol.
func (p *Protocol) Name() knock.Protocol { return knock.FWKNOP }

// DatagramPort implements engine.DatagramProtocol.
func (p *Protocol) DatagramPort() uint16 { return p.Port }

// DecodeDatagram implements engine.DatagramProtocol. The access goes to
// the address in the packet, which fwknop lets differ from the sender
// (the client's -a, for NAT), so the engine's client check does not apply:
// REQUIRE_SOURCE_ADDRESS in the stanza decides that.
func (p *Protocol) DecodeDatagram(payload []byte, src, dst netip.Addr, now time.Time) (knock.Request, error) {
	acc, err := p.Matcher.Match(payload, src, dst, now)
	if err != nil {
		return knock.Request{}, knock.Refuse(shared[ReasonOf(err)], err)
	}
	ports := make([]string, len(acc.Ports))
	for i, pt := range acc.Ports {
		ports[i] = pt.String()
	}
	return knock.Request{
		Protocol: knock.FWKNOP, User: acc.Name, Client: acc.Addr.Unmap(), Ports: acc.Ports,
		Duration: acc.Duration, Stamp: acc.Timestamp, ReplayID: acc.ReplayID, ReplayUntil: acc.ReplayUntil,
		Fields: map[string]string{
			"user": acc.User, "client": acc.Addr.String(), "ports": strings.Join(ports, ","),
			"duration": acc.Duration.String(), "time": acc.Timestamp.Format(time.RFC3339),
			"stanza": acc.Name, "seconds": strconv.Itoa(int(acc.Duration / time.Second)),
		},
	}, nil
}

// shared maps fwknop's own reasons, which name its checks exactly, onto
// the project's vocabulary for counters and logs.
var shared = map[Reason]knock.Reason{
	ReasonMalformed:   knock.ReasonMalformed,
	ReasonPrefixed:    knock.ReasonMalformed,
	ReasonSource:      knock.ReasonSource,
	ReasonAuth:        knock.ReasonAuth,
	ReasonGPG:         knock.ReasonUnsupported,
	ReasonExpired:     knock.ReasonExpired,
	ReasonDecrypt:     knock.ReasonDecrypt,
	ReasonUnsupported: knock.ReasonUnsupported,
	ReasonDigest:      knock.ReasonChecksum,
	ReasonStale:       knock.ReasonStale,
	ReasonPort:        knock.ReasonPort,
	ReasonUser:        knock.ReasonUser,
	"":                knock.ReasonMalformed,
}
