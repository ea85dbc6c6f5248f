package ebpf

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/source"
)

// Limits and defaults of the kernel program.
const (
	QueueLen      = 32      // stage 2's queue per source: the largest MinKnock
	PayloadMax    = 512     // payload bytes of a single-packet datagram handed up
	DefaultStage1 = 32768   // sources seen once (slots; Ways per set)
	Ways          = 4       // stage 1's slots per set
	MaxStage1     = 1 << 22 // the largest stage 1: 192 MiB of kernel memory
	DefaultStage2 = 4096    // sources seen twice within the timeout
	DefaultBudget = 1024    // records per source per timeout after its queue
	DefaultRing   = 1 << 20 // bytes of ring buffer
)

// Config says where to attach and what to watch.
type Config struct {
	// Interfaces are the names of the interfaces to attach to, in the
	// calling thread's network namespace.
	Interfaces []string
	// Span is the knock span; its ports are watched for TCP SYNs and UDP
	// datagrams. May be nil when TCP or UDP lists ports.
	Span *portspan.Span
	// TCP and UDP are more ports to watch, for one protocol each (the
	// doors of a knockd configuration).
	TCP, UDP []uint16
	// SPAPorts are single-packet ports: every UDP datagram to one is
	// handed to userspace with its payload.
	SPAPorts []uint16
	// MinKnock is the fewest packets a knock has, 2 to QueueLen: a
	// source's queue goes to userspace once it holds that many within
	// Timeout.
	MinKnock int
	// Timeout is the knock timeout: the longest a knock may take.
	Timeout time.Duration
	// Budget is how many single records a source may cause per Timeout
	// once its queue went up; 0 means DefaultBudget.
	Budget int
	// Stage1 and Stage2 are the sizes of the two stages (entries; Stage1
	// a power of two, at least Ways); 0 means DefaultStage1 and
	// DefaultStage2.
	Stage1, Stage2 int
	// Ring is the ring buffer's size in bytes, a power of two times the
	// page size; 0 means DefaultRing.
	Ring int
	// Generic attaches in generic (skb) mode even where the driver
	// supports native XDP.
	Generic bool
	// Rand keys stage 1's hash, which picks a source's set, so that a
	// sender cannot aim its sources at one set; nil means crypto/rand.
	Rand io.Reader
	// Now stamps the hits; nil means time.Now. Kernel times are converted
	// from the monotonic clock relative to it, read once at New.
	Now func() time.Time
}

// Attachment is the program on one interface, and how.
type Attachment struct {
	Interface string
	Mode      string // "native" (driver) or "generic" (skb)
}

// Source reads knocks from the XDP program. It implements source.Source
// and source.Counters.
type Source struct {
	objs     knockObjects
	links    []link.Link
	attached []Attachment
	rd       *ringbuf.Reader
	clock    clock
	dec      decoder

	mu        sync.Mutex // guards close and the userspace counters
	closed    bool
	closeErr  error
	records   uint64
	malformed uint64
	last      []uint64 // the kernel's counters, last read
}

var (
	_ source.Source   = (*Source)(nil)
	_ source.Counters = (*Source)(nil)
)

// clock turns kernel times (CLOCK_MONOTONIC nanoseconds) into wall times.
type clock struct {
	wall time.Time
	mono int64
}

func newClock(now func() time.Time) clock {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return clock{wall: now(), mono: ts.Nano()}
}

func (c clock) at(ns uint64) time.Time { return c.wall.Add(time.Duration(int64(ns) - c.mono)) }

// New loads the program with cfg's settings and attaches it to every
// interface of cfg, in the calling thread's network namespace. Run reads
// what it finds; Close (or Run's return) detaches it.
func New(cfg Config) (*Source, error) {
	if len(cfg.Interfaces) == 0 {
		return nil, errors.New("ebpf source: no interface to attach to")
	}
	s, err := load(cfg)
	if err != nil {
		return nil, err
	}
	for _, name := range cfg.Interfaces {
		if err := s.attach(name, cfg.Generic); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// load loads the program and its maps, attached nowhere.
func load(cfg Config) (*Source, error) {
	spec, err := cfg.spec()
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Source{}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		return nil, fmt.Errorf("ebpf source: loading the program: %w", explain(err))
	}
	if err := s.fillPorts(cfg); err != nil {
		s.Close()
		return nil, err
	}
	if s.rd, err = ringbuf.NewReader(s.objs.Events); err != nil {
		s.Close()
		return nil, fmt.Errorf("ebpf source: reading the ring buffer: %w", err)
	}
	s.clock = newClock(cfg.Now)
	return s, nil
}

// spec checks cfg and returns the program's collection, sized and set.
func (cfg Config) spec() (*ebpf.CollectionSpec, error) {
	switch {
	case cfg.Span == nil && len(cfg.TCP)+len(cfg.UDP)+len(cfg.SPAPorts) == 0:
		return nil, errors.New("ebpf source: no knock span and no ports to watch")
	case cfg.MinKnock < 2 || cfg.MinKnock > QueueLen:
		return nil, fmt.Errorf("ebpf source: minimum knock of %d packets: want 2 to %d", cfg.MinKnock, QueueLen)
	case cfg.Timeout <= 0:
		return nil, fmt.Errorf("ebpf source: knock timeout %s: want more than 0", cfg.Timeout)
	case cfg.Budget < 0 || cfg.Stage1 < 0 || cfg.Stage2 < 0 || cfg.Ring < 0:
		return nil, errors.New("ebpf source: negative budget, stage or ring size")
	case cfg.Stage1 != 0 && (cfg.Stage1 < Ways || cfg.Stage1 > MaxStage1 || cfg.Stage1&(cfg.Stage1-1) != 0):
		return nil, fmt.Errorf("ebpf source: stage 1 of %d sources: want a power of two from %d to %d", cfg.Stage1, Ways, MaxStage1)
	case cfg.Ring != 0 && (cfg.Ring&(cfg.Ring-1) != 0 || cfg.Ring%os.Getpagesize() != 0):
		return nil, fmt.Errorf("ebpf source: ring buffer of %d bytes: want a power of two times the page size (%d)", cfg.Ring, os.Getpagesize())
	}
	spec, err := loadKnock()
	if err != nil {
		return nil, fmt.Errorf("ebpf source: %w", err)
	}
	budget := orDefault(cfg.Budget, DefaultBudget)
	sets := uint32(orDefault(cfg.Stage1, DefaultStage1) / Ways)
	random := cfg.Rand
	if random == nil {
		random = rand.Reader
	}
	var seed [16]byte
	if _, err := io.ReadFull(random, seed[:]); err != nil {
		return nil, fmt.Errorf("ebpf source: seeding stage 1's hash: %w", err)
	}
	vars := []struct {
		name string
		v    any
	}{
		{knockVarTimeoutNs, uint64(cfg.Timeout)},
		{knockVarMinKnock, uint32(cfg.MinKnock)},
		{knockVarBudget, uint32(budget)},
		{knockVarSetMask, sets - 1},
		{knockVarSeed, binary.NativeEndian.Uint64(seed[:8])},
		{knockVarSeed2, binary.NativeEndian.Uint64(seed[8:])},
	}
	for _, s := range vars {
		if err := spec.Variables[s.name].Set(s.v); err != nil {
			return nil, fmt.Errorf("ebpf source: setting %s: %w", s.name, err)
		}
	}
	spec.Maps[knockMapStage1].MaxEntries = sets
	spec.Maps[knockMapStage2].MaxEntries = uint32(orDefault(cfg.Stage2, DefaultStage2))
	spec.Maps[knockMapEvents].MaxEntries = uint32(orDefault(cfg.Ring, DefaultRing))
	return spec, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Bitmap words of the span_ports map: TCP, then UDP.
const udpWords = 1024

// fillPorts writes the port bitmaps.
func (s *Source) fillPorts(cfg Config) error {
	var span [2 * udpWords]uint64
	var spa [udpWords]uint64
	set := func(words []uint64, p uint16) { words[p>>6] |= 1 << (p & 63) }
	if cfg.Span != nil {
		for i := range cfg.Span.Size() {
			set(span[:udpWords], cfg.Span.Port(i))
			set(span[udpWords:], cfg.Span.Port(i))
		}
	}
	for _, p := range cfg.TCP {
		set(span[:udpWords], p)
	}
	for _, p := range cfg.UDP {
		set(span[udpWords:], p)
	}
	for _, p := range cfg.SPAPorts {
		set(spa[:], p)
	}
	if err := fill(s.objs.SpanPorts, span[:]); err != nil {
		return fmt.Errorf("ebpf source: writing the watched ports: %w", err)
	}
	if err := fill(s.objs.SpaPorts, spa[:]); err != nil {
		return fmt.Errorf("ebpf source: writing the single-packet ports: %w", err)
	}
	return nil
}

func fill(m *ebpf.Map, words []uint64) error {
	keys := make([]uint32, len(words))
	for i := range keys {
		keys[i] = uint32(i)
	}
	_, err := m.BatchUpdate(keys, words, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		for i, w := range words {
			if err := m.Put(keys[i], w); err != nil {
				return err
			}
		}
		return nil
	}
	return err
}

// attach links the program to one interface, natively if the driver can.
func (s *Source) attach(name string, generic bool) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return fmt.Errorf("ebpf source: interface %q: %w", name, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		// The program reads Ethernet frames; on a tun or WireGuard
		// interface XDP sees bare IP packets.
		return fmt.Errorf("ebpf source: interface %q has no Ethernet header: use the packet socket there", name)
	}
	mode := "native"
	var l link.Link
	if !generic {
		l, err = link.AttachXDP(link.XDPOptions{Program: s.objs.KnockXdp, Interface: ifi.Index, Flags: link.XDPDriverMode})
	}
	busy := errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST)
	if generic || (err != nil && !busy) {
		// The driver has no native XDP: the generic hook works on any
		// interface, after the kernel has built an skb.
		mode = "generic"
		l, err = link.AttachXDP(link.XDPOptions{Program: s.objs.KnockXdp, Interface: ifi.Index, Flags: link.XDPGenericMode})
		busy = errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST)
	}
	if busy {
		return fmt.Errorf("ebpf source: attaching XDP to %q: another XDP program is attached there (ip link show dev %s): %w", name, name, err)
	}
	if err != nil {
		return fmt.Errorf("ebpf source: attaching XDP to %q: %w", name, explain(err))
	}
	s.links = append(s.links, l)
	s.attached = append(s.attached, Attachment{Interface: name, Mode: mode})
	return nil
}

// Attachments says where the program is attached, and how: for the
// daemon's start-up log line.
func (s *Source) Attachments() []Attachment { return append([]Attachment(nil), s.attached...) }

// Run delivers hits until ctx is done, then detaches the program. While
// out is full the ring buffer fills, and the kernel counts what it cannot
// hand up (ring_full).
func (s *Source) Run(ctx context.Context, out chan<- source.Hit) error {
	defer s.Close()
	// Closing the reader interrupts ReadInto (a deadline cannot: setting
	// one waits for ReadInto's lock).
	stop := context.AfterFunc(ctx, func() { s.rd.Close() })
	defer stop()
	var rec ringbuf.Record
	var hits []source.Hit
	for {
		err := s.rd.ReadInto(&rec)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, ringbuf.ErrFlushed) || errors.Is(err, errDeadline) {
				continue
			}
			return fmt.Errorf("ebpf source: reading the ring buffer: %w", err)
		}
		var ok bool
		hits, ok = s.dec.decode(hits[:0], rec.RawSample, s.clock)
		s.count(ok)
		for _, h := range hits {
			select {
			case out <- h:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func (s *Source) count(ok bool) {
	s.mu.Lock()
	s.records++
	if !ok {
		s.malformed++
	}
	s.mu.Unlock()
}

// Close detaches the program from every interface and frees its maps, if
// Run has not.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.last = s.kernelCounters()
	s.closed = true
	var errs []error
	for _, l := range s.links {
		errs = append(errs, l.Close())
	}
	if s.rd != nil {
		errs = append(errs, s.rd.Close())
	}
	errs = append(errs, s.objs.Close())
	s.closeErr = errors.Join(errs...)
	return s.closeErr
}
