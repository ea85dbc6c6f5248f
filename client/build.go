package client

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/portknock/knock"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/logline"
	"github.com/portknock/knock/sealed"
	"github.com/portknock/knock/sender"
)

// built is one knock, ready to send.
type built struct {
	ports   []uint16 // the sequence; nil for single-packet authorization
	packets []Packet
}

// text is what -test prints: the sequence, or the SPA datagram in hex.
func (k built) text() string {
	if k.ports == nil && len(k.packets) == 1 {
		return hex.EncodeToString(k.packets[0].Payload)
	}
	return FormatSequence(k.ports)
}

// build makes a fresh knock: time, RAND, IV and nonce are drawn anew.
func (p *plan) build(c *Client) (built, error) {
	if p.codec != nil {
		return p.buildLegacy(c)
	}
	return p.buildSealed(c)
}

func (p *plan) buildLegacy(c *Client) (built, error) {
	t, err := p.codec.Trace(legacy.Values{Client: p.client, Port: p.port, Flags: p.flags})
	if err != nil {
		return built{}, err
	}
	if c.debug >= 1 {
		c.debugf(1, "fields: %s", fieldsText(legacyFields(p.codec.Format(), t.Values)))
		c.debugf(1, "bytes: %s", decimals(t.Plain))
		if p.codec.Cipher() != "none" {
			if t.IV != nil {
				c.debugf(1, "iv: %x (sent after the RandomIV header)", t.IV)
			}
			c.debugf(1, "encrypted (%s): %s", p.codec.Cipher(), decimals(t.Sealed))
		}
		c.debugf(1, "ports (%s, %d bits each): %s", p.span, p.span.Bits(), FormatSequence(t.Ports))
	}
	return p.sequence(t.Ports), nil
}

func (p *plan) buildSealed(c *Client) (built, error) {
	m := p.msg
	m.Client, m.Implicit = p.client, p.implicit
	m.Time = c.env.Clock.Now()
	var (
		b   []byte
		err error
	)
	if p.v2 != nil {
		b, err = p.v2.Seal(m, c.env.Rand)
	} else {
		b, err = sealed.Seal(p.key, m, c.env.Rand)
	}
	if err != nil {
		return built{}, err
	}
	c.debugf(1, "message: client=%s port=%d proto=%s duration=%v close=%v time=%s implicit=%v",
		m.Client, m.Port, m.Proto, m.Duration, m.Close, m.Time.UTC().Format("2006-01-02T15:04:05Z"), m.Implicit)
	c.debugf(1, "bytes: %x", b)
	if p.spa != 0 {
		return built{packets: []Packet{{Proto: knock.UDP, Port: p.spa, Payload: sealed.MarshalSPA(b)}}}, nil
	}
	ports := sealed.Encode(p.span, b)
	c.debugf(1, "ports (%s, %d bits each): %s", p.span, p.span.Bits(), FormatSequence(ports))
	return p.sequence(ports), nil
}

func (p *plan) sequence(ports []uint16) built {
	k := built{ports: ports, packets: make([]Packet, len(ports))}
	for i, port := range ports {
		k.packets[i] = Packet{Proto: knock.Proto(p.proto), Port: port}
	}
	return k
}

// sender opens where knocks go: the log file, or the network.
func (p *plan) sender(c *Client) (Sender, error) {
	s := c.s
	if !p.fileOut {
		snd, err := c.env.Net.Sender(p.remote)
		if sock, ok := snd.(*sender.Socket); ok {
			sock.Logf = c.debugLog()
		}
		return snd, sendError(err)
	}
	template := s.String("fileformat")
	if template == "" {
		template = logline.DefaultTemplate
	}
	if _, err := logline.PatternFor(template); err != nil {
		c.progressf("warning: fileformat: %v\n", err)
	}
	snd, err := OpenFileSender(p.logfile, template, p.client, p.remote, c.env.Clock, c.env.Rand)
	if err != nil {
		return nil, sendError(s.Errorf("logfile", "%v", unwrapPath(err)))
	}
	c.debugf(1, "writing knocks to %s", p.logfile)
	return snd, nil
}

// report is the line a knock leaves on Stdout.
func (p *plan) report(k built) string {
	switch {
	case k.ports == nil:
		return fmt.Sprintf("sent a single-packet authorization to %s udp port %d", p.remote, p.spa)
	case p.fileOut:
		return fmt.Sprintf("wrote %d knock(s) to %s: %s", len(k.ports), p.logfile, FormatSequence(k.ports))
	}
	return fmt.Sprintf("knocked on %s (%s): %s", p.remote, p.proto, FormatSequence(k.ports))
}

func fieldsText(fs []Field) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%s=%v", f.Name, f.Value)
	}
	return strings.Join(parts, " ")
}

func decimals(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = strconv.Itoa(int(x))
	}
	return strings.Join(parts, " ")
}
