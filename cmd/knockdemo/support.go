package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// prefixed turns the daemon's log lines into story lines.
type prefixed struct {
	mu     sync.Mutex
	s      *story
	prefix string
	buf    bytes.Buffer
}

func (p *prefixed) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for {
		line, err := p.buf.ReadString('\n')
		if err != nil {
			p.buf.WriteString(line)
			return len(b), nil
		}
		line = strings.TrimPrefix(strings.TrimSpace(line), "level=INFO ")
		p.s.say("%s%s", p.prefix, line)
	}
}

// dropTime leaves the time out of the daemon's lines: the story has its own.
func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
