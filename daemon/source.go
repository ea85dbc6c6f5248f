package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portknock/knock/internal/netns"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/afpacket"
	"github.com/portknock/knock/source/ebpf"
	"github.com/portknock/knock/source/logfile"
	"github.com/portknock/knock/source/nflog"
)

// SourceOptions are what tests and the demo change.
type SourceOptions struct {
	// NetNSFd, when more than 0, is the network namespace every network
	// source works in: NFLOG's socket, the packet socket, and the
	// interfaces the eBPF first stage attaches to.
	NetNSFd int
	// Open, when set, runs the opening of a packet socket or eBPF source
	// where the caller chooses, instead of in NetNSFd.
	Open func(f func() error) error
}

// newSource builds the knock source sc describes. Adding a source is one
// case here and one package under source/.
func newSource(sc SourceConfig, log *slog.Logger, now func() time.Time, o SourceOptions) (source.Source, error) {
	if sc.Mode == RunFile {
		return logfile.New(logfile.Config{Path: sc.LogFile, Patterns: sc.Patterns, FromStart: sc.FromStart, AnyFlags: sc.AnyFlags, Now: now, Logger: log})
	}
	var span *portspan.Span // nil: datagram ports only
	switch len(sc.Spans) {
	case 0:
	case 1:
		span = sc.Spans[0]
	default:
		return nil, fmt.Errorf("the packet sources watch one knock span, not %d", len(sc.Spans))
	}
	switch sc.Capture {
	case CaptureAuto, CaptureEBPF:
		return newEBPF(sc, span, log, now, o)
	case CaptureNFLOG:
		return nflog.New(nflog.Config{Group: sc.NFLOGGrp, Batch: sc.NFLOGBat, Span: span, Extra: sc.Extra, AnyFlags: sc.AnyFlags, DoorUDP: sc.DoorUDP, Drop: sc.Drop, Interface: sc.Interface, NetNSFd: o.NetNSFd, Now: now})
	case CaptureAFPacket:
		var src *afpacket.Source
		open := func() (err error) {
			src, err = afpacket.Open(afpacket.Config{Interface: sc.Interface, Span: span, Extra: append(slices.Clone(sc.Extra), sc.DoorUDP...), AnyFlags: sc.AnyFlags, Now: now})
			return err
		}
		err := inNamespace(o, open)
		return src, err
	}
	return nil, fmt.Errorf("no capture %q", sc.Capture)
}

// interfaces lists the interfaces to capture on: those named (commas or
// spaces), or every Ethernet interface that is up, loopback excepted.
func interfaces(named string) ([]string, error) {
	if f := strings.FieldsFunc(named, func(r rune) bool { return r == ',' || r == ' ' }); len(f) > 0 {
		for _, name := range f {
			if _, err := net.InterfaceByName(name); err != nil {
				return nil, &interfaceError{name, err}
			}
		}
		return f, nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 && len(i.HardwareAddr) == 6 {
			out = append(out, i.Name)
		}
	}
	return out, nil
}

// newEBPF builds the eBPF first stage, attached when it runs (so that
// -test attaches nothing). With capture = auto, a kernel or privilege that
// does not allow it falls back to the packet socket on a named interface,
// else to NFLOG, and the log says why.
func newEBPF(sc SourceConfig, span *portspan.Span, log *slog.Logger, now func() time.Time, o SourceOptions) (source.Source, error) {
	cfg := ebpf.Config{Span: span, SPAPorts: sc.Extra, MinKnock: min(max(sc.MinKnock, 2), 32), Timeout: sc.Timeout, Now: now}
	// The interfaces first: a name that does not exist is the operator's
	// to fix, whatever the kernel can do.
	err := inNamespace(o, func() error {
		var ierr error
		cfg.Interfaces, ierr = interfaces(sc.Interface)
		if ierr == nil && len(cfg.Interfaces) == 0 {
			ierr = errors.New("no Ethernet interface is up")
		}
		return ierr
	})
	if _, iface := errors.AsType[*interfaceError](err); iface {
		return nil, err // no reason to fall back
	}
	if err == nil {
		err = ebpf.Supported()
	}
	if err == nil && len(sc.AnyFlags)+len(sc.DoorUDP) > 0 {
		// knockd's doors may sit on live services' ports and count
		// segments of any flags: the first stage, which drops what it
		// records and hands over SYNs of repeat sources only, is not for
		// them.
		err = errors.New("knockd doors (knockdconf) need every packet of their ports, which the eBPF first stage does not pass")
	}
	if err == nil {
		return &lazyEBPF{cfg: cfg, o: o, log: log}, nil
	}
	if sc.Capture == CaptureEBPF {
		return nil, err
	}
	fb := sc
	fb.Capture = CaptureNFLOG
	if sc.Interface != "" && !strings.ContainsAny(sc.Interface, ", ") {
		fb.Capture = CaptureAFPacket
	}
	log.Warn("capture = auto: the eBPF first stage cannot run here, falling back", "capture", fb.Capture, "why", err)
	return newSource(fb, log, now, o)
}

// inNamespace runs f where o says sources open: through o.Open, in the
// namespace of o.NetNSFd, or here. Without it a test that names a
// namespace by its descriptor would attach to the caller's own interfaces.
func inNamespace(o SourceOptions, f func() error) error {
	switch {
	case o.Open != nil:
		return o.Open(f)
	case o.NetNSFd > 0:
		return netns.InFd(o.NetNSFd, f)
	}
	return f()
}

// lazyEBPF attaches the eBPF program when the daemon runs, in the
// namespace the options name, and detaches when it stops.
type lazyEBPF struct {
	cfg ebpf.Config
	o   SourceOptions
	log *slog.Logger

	mu    sync.Mutex
	src   *ebpf.Source
	once  sync.Once
	ready chan struct{}
}

// Ready implements source.Readier: closed once the program is attached.
func (l *lazyEBPF) Ready() <-chan struct{} {
	l.once.Do(func() { l.ready = make(chan struct{}) })
	return l.ready
}

func (l *lazyEBPF) Run(ctx context.Context, out chan<- source.Hit) error {
	var src *ebpf.Source
	err := inNamespace(l.o, func() (err error) {
		src, err = ebpf.New(l.cfg)
		return err
	})
	if err != nil {
		return err
	}
	for _, a := range src.Attachments() {
		l.log.Info("eBPF first stage attached", "interface", a.Interface, "mode", a.Mode)
	}
	l.mu.Lock()
	l.src = src
	l.mu.Unlock()
	l.Ready()
	select {
	case <-l.ready:
	default:
		close(l.ready)
	}
	return src.Run(ctx, out)
}

// Counters implements source.Counters.
func (l *lazyEBPF) Counters() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.src == nil {
		return nil
	}
	return l.src.Counters()
}

// interfaceError is a named interface that does not exist: the operator's
// interface setting is at fault.
type interfaceError struct {
	name string
	err  error
}

func (e *interfaceError) Error() string {
	return fmt.Sprintf("no interface %q (ip link lists the host's interfaces): %v", e.name, e.err)
}
func (e *interfaceError) Unwrap() error { return e.err }
