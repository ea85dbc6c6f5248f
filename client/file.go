package client

import (
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/portknock/knock/logline"
)

// Ephemeral ports drawn for _CLIENTPORT_, Linux's default range.
const (
	ephemeralLow  = 32768
	ephemeralHigh = 60999
)

// FileSender writes knocks into a faked firewall log, one line per port,
// as the prototype's logtofile did: the line is Template rendered by
// logline.Render, the daemon's own template code. Each line is one write
// to a file opened with O_APPEND, so lines of concurrent writers (another
// client, the kernel's log) never interleave.
type FileSender struct {
	f        *os.File
	template string
	client   netip.Addr
	remote   netip.Addr
	clock    Clock
	rand     io.Reader
}

// OpenFileSender opens (or creates, mode 0640) path for appending.
// template "" is logline.DefaultTemplate.
func OpenFileSender(path, template string, client, remote netip.Addr, clock Clock, rand io.Reader) (*FileSender, error) {
	if template == "" {
		template = logline.DefaultTemplate
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, err
	}
	return &FileSender{f: f, template: template, client: client, remote: remote, clock: clock, rand: rand}, nil
}

// Send implements Sender: one line for p.Port, dated now, from a random
// ephemeral client port.
func (s *FileSender) Send(p Packet) error {
	var b [2]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return fmt.Errorf("drawing a client port: %w", err)
	}
	sport := ephemeralLow + (int(b[0])<<8|int(b[1]))%(ephemeralHigh-ephemeralLow+1)
	line := logline.Render(s.template, logline.Fields{
		Date: s.clock.Now(), Client: s.client, Remote: s.remote,
		ClientPort: uint16(sport), RemotePort: p.Port,
	})
	_, err := s.f.Write([]byte(line + "\n"))
	return err
}

// Close implements Sender.
func (s *FileSender) Close() error { return s.f.Close() }
