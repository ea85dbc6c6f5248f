package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/portknock/knock/settings"
)

// Env is everything a Client takes from outside its settings. Zero fields
// get the real thing (or io.Discard for the writers).
type Env struct {
	Clock  Clock     // SystemClock
	Rand   io.Reader // crypto/rand.Reader
	Net    Network   // System
	Mapper Mapper    // STUN, asked only when the stun setting names a server
	Stdout io.Writer // answers: the -test sequence, -decode's JSON, reports
	Stderr io.Writer // diagnostics (-debug), warnings, progress
}

// Client is knockclient over one set of settings.
type Client struct {
	s     *settings.Set
	env   Env
	debug int
	quiet bool
}

// New returns a client; nothing is checked or opened until it runs.
func New(s *settings.Set, env Env) *Client {
	if env.Clock == nil {
		env.Clock = SystemClock{}
	}
	if env.Rand == nil {
		env.Rand = rand.Reader
	}
	if env.Net == nil {
		env.Net = System{}
	}
	if env.Mapper == nil {
		env.Mapper = STUN{Rand: env.Rand}
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	return &Client{s: s, env: env, debug: s.Int("debug"), quiet: s.Bool("quiet")}
}

// Run does what the settings ask: -keygen, -decode, or knock (which -test
// builds without sending). With debug 2 it first dumps every parameter.
func (c *Client) Run(ctx context.Context) error {
	if c.debug >= 2 {
		c.Dump(c.env.Stderr)
	}
	switch {
	case c.s.Bool("keygen"):
		return c.Keygen()
	case c.s.IsSet("decode"):
		return c.Decode(c.s.Get("decode").Text)
	}
	return c.Knock(ctx)
}

// Keygen writes a new sealed key to the file keyfile names, or to Stdout
// when none is named.
func (c *Client) Keygen() error {
	path := c.s.Path("keyfile")
	text, err := Keygen(path, c.env.Rand, c.env.Clock.Now())
	if err != nil {
		return c.s.Errorf("keyfile", "%v", err)
	}
	if path == "" {
		_, err = io.WriteString(c.env.Stdout, text)
		return err
	}
	c.infof("wrote a new key to %s (mode 0600); give the daemon the same file\n", path)
	return nil
}

// Knock builds the knock and sends it (or, with -test, prints it), then
// with -verify checks the port and knocks again as -retry allows.
func (c *Client) Knock(ctx context.Context) error {
	p, err := c.plan(ctx)
	if err != nil {
		return err
	}
	if p.test {
		k, err := p.build(c)
		if err != nil {
			return err
		}
		c.infof("%s\n", k.text())
		return nil
	}
	sender, err := p.sender(c)
	if err != nil {
		return err
	}
	defer sender.Close()
	kn := &Knocker{Sender: sender, Clock: c.env.Clock, Gap: p.gap, Logf: c.debugLog()}
	if p.fileOut {
		kn.Gap = 0 // the prototype wrote a file's lines without pause (v0.22)
	}
	if !p.verify {
		return c.knockOnce(ctx, p, kn)
	}
	return c.verifyLoop(ctx, p, kn)
}

func (c *Client) knockOnce(ctx context.Context, p *plan, kn *Knocker) error {
	k, err := p.build(c)
	if err != nil {
		return err
	}
	if err := kn.Knock(ctx, k.packets); err != nil {
		return err
	}
	c.infof("%s\n", p.report(k))
	return nil
}

// Backoff between retries: half a second, doubling, at most BackoffMax.
const (
	BackoffFirst = 500 * time.Millisecond
	BackoffMax   = 16 * time.Second
)

// Backoff returns the pause before retry n (from 0).
func Backoff(n int) time.Duration {
	d := BackoffFirst
	for i := 0; i < n && d < BackoffMax; i++ {
		d *= 2
	}
	return min(d, BackoffMax)
}

func (c *Client) verifyLoop(ctx context.Context, p *plan, kn *Knocker) error {
	alternate := p.mode == settings.ModeSealed && p.spa == 0 && !p.fileOut
	for n := 0; ; n++ {
		if alternate {
			// A knock of many packets dies with any one of them on a lossy
			// link; a single datagram rarely does. So two sealed retries
			// in three go as single-packet authorization, and every third
			// goes over the span again, for a network that drops UDP.
			p.spa = 0
			if n%3 != 0 {
				p.spa = uint16(c.s.Int("spaport"))
			}
		}
		if err := c.knockOnce(ctx, p, kn); err != nil {
			return err
		}
		c.debugf(1, "verify: connecting to %s", p.verifyAt)
		open, err := c.env.Net.Probe(ctx, p.verifyAt)
		if err != nil {
			return sendError(fmt.Errorf("verifying %s: %w", p.verifyAt, err))
		}
		if open {
			c.infof("%s is open\n", p.verifyAt)
			return nil
		}
		if n >= p.retries {
			return fmt.Errorf("%w: %s after %d knock(s)", ErrClosed, p.verifyAt, n+1)
		}
		wait := Backoff(n)
		c.progressf("%s is closed; knocking again in %v (retry %d of %d)\n", p.verifyAt, wait, n+1, p.retries)
		if err := c.env.Clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// kindError gives an error one of the sentinels without changing its text.
type kindError struct{ kind, err error }

func (e *kindError) Error() string        { return e.err.Error() }
func (e *kindError) Unwrap() error        { return e.err }
func (e *kindError) Is(target error) bool { return target == e.kind }

func sendError(err error) error {
	if err == nil || errors.Is(err, ErrSend) {
		return err
	}
	return &kindError{ErrSend, err}
}

// infof writes an answer to Stdout unless quiet.
func (c *Client) infof(format string, args ...any) {
	if !c.quiet {
		fmt.Fprintf(c.env.Stdout, format, args...)
	}
}

// progressf writes progress to Stderr unless quiet.
func (c *Client) progressf(format string, args ...any) {
	if !c.quiet {
		fmt.Fprintf(c.env.Stderr, format, args...)
	}
}

// debugf writes a diagnostic line to Stderr at debug level or above.
func (c *Client) debugf(level int, format string, args ...any) {
	if c.debug >= level {
		fmt.Fprintf(c.env.Stderr, "debug: "+format+"\n", args...)
	}
}

func (c *Client) debugLog() func(string, ...any) {
	if c.debug < 1 {
		return nil
	}
	return func(format string, args ...any) { c.debugf(1, format, args...) }
}
