// Package nflog is the knock source of runmode = network on hosts where the
// daemon may manage the ruleset: the kernel itself logs every knock packet
// to an NFLOG group, and the source reads the packets from there.
//
// The source installs its own nftables table (portknock_log_G by default,
// G its NFLOG group, apart from the firewall backend's table) with one chain on the
// prerouting hook at priority raw - 10 (-310). Prerouting, because it runs
// before the input hook where a default-drop ruleset usually drops, and
// before any routing decision; raw - 10 because that is after the kernel
// reassembles fragments (-400), so a single-packet knock arrives whole, yet
// before the raw tables (-300), connection tracking (-200), mangle (-150)
// and filter (0): no rule of the host's firewall, however strict, drops a
// knock before it is logged. Connection state is not known that early, so
// the rule asks for what a knock is, not for "ct state new": a TCP segment
// with SYN set and ACK clear, or a UDP datagram, to a watched port (an
// interval set: the span's ports, which need not be contiguous, and the
// single-packet port), addressed to this host (fib
// daddr type local, since prerouting also sees packets being forwarded).
// The ports of knockd's doors (Config.AnyFlags, Config.DoorUDP) have
// rules of their own, first: every TCP segment to a door's TCP port is
// logged, whatever its flags, since a door may match on them (TCPFlags =
// ack), and every datagram to its UDP ports. They accept what they log,
// which ends this chain only (the host's tables still judge the packet):
// a packet is logged once, and never dropped here, since a door may share
// its port with a live service, as it may under knockd.
//
// The log statement and the NFLOG socket both set a queue threshold of one
// packet (Config.Batch): the kernel's default batches up to 100 packets
// or one second, which would make every knock a second late. The reader
// still takes many packets per system call under a flood (recvmmsg). The socket sets
// NETLINK_NO_ENOBUFS, so an overrun under flood never turns into a socket
// error that ends the reader; overruns are counted from gaps in the
// sequence numbers the kernel stamps on each logged packet.
package nflog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/nftables"

	"github.com/portknock/knock/firewall/nft"
	"github.com/portknock/knock/portspan"
	"github.com/portknock/knock/source"
	"github.com/portknock/knock/source/packet"
)

// Defaults for the Config fields left zero.
const (
	DefaultGroup      = 7
	DefaultReadBuffer = 4 << 20
	DefaultRepair     = 2 * time.Second
)

// Config says what to log and where.
type Config struct {
	// Group is the NFLOG group; 0 means DefaultGroup.
	Group uint16
	// Span is the knock span whose ports are watched.
	Span *portspan.Span
	// Extra are more ports to watch: the single-packet port, when it
	// lies outside the span.
	Extra []uint16
	// AnyFlags are TCP ports watched whatever a segment's flags, not
	// only for SYNs: the ports of knockd's doors (TCPFlags = ack, ...).
	AnyFlags []uint16
	// DoorUDP are knockd's doors' UDP ports. The door ports (these and
	// AnyFlags) are logged, never dropped, whatever Drop says: a knockd
	// door may use the port of a live service, as under knockd.
	DoorUDP []uint16
	// Interface, when set, limits logging to packets arriving on it.
	Interface string
	// Table is the nftables table of the source (family inet); "" means
	// TableName(Group). Another table of that name is replaced: no other
	// live daemon has it, since it is named after the group and the
	// kernel gives a group to one socket only (see ErrGroupInUse).
	Table string
	// NetNSFd, when not 0, is the network namespace to work in (tests);
	// otherwise the daemon's own.
	NetNSFd int
	// Drop makes the rule drop each knock packet once it is logged, so the
	// host never answers a knock: no RST to a SYN, no ICMP port
	// unreachable to a datagram. A port scan then sees the span as
	// filtered, and a knock looks like any packet lost on the way.
	Drop bool
	// ReadBuffer is the socket's receive buffer in bytes; 0 means
	// DefaultReadBuffer. Knocks beyond it during a flood are lost.
	ReadBuffer int
	// Now stamps the hits; nil means time.Now.
	Now func() time.Time
	// Batch is how many logged packets the kernel gathers before it hands
	// them over in one message (NFULA_CFG_QTHRESH, and the log
	// statement's queue-threshold); 0 means 1, each at once. Above 1, a
	// packet that comes alone waits FlushTimeout: fewer messages under a
	// flood, for about 10 ms more on every knock (docs/benchmarks.md).
	// Reads are batched whatever it is: one system call takes all the
	// messages queued, up to 16.
	Batch int
	// Repair is how often the source checks that its table is still
	// there, and puts it back if not; 0 means DefaultRepair. A deletion
	// the kernel announces (flush ruleset) is repaired at once.
	Repair time.Duration
}

// TableName is the source's table for an NFLOG group: each daemon on a
// host has a group of its own, and so a table of its own.
func TableName(group uint16) string { return fmt.Sprintf("portknock_log_%d", group) }

// Source reads knocks from NFLOG. It implements source.Source and
// source.Counters.
type Source struct {
	cfg        Config
	filter     *packet.Filter
	ready      chan struct{}
	reinstalls atomic.Uint64
}

var (
	_ source.Source   = (*Source)(nil)
	_ source.Counters = (*Source)(nil)
	_ source.Readier  = (*Source)(nil)
)

// New checks the configuration. Nothing touches the kernel before Run.
func New(cfg Config) (*Source, error) {
	if cfg.Span == nil && len(cfg.Extra) == 0 && len(cfg.AnyFlags) == 0 && len(cfg.DoorUDP) == 0 {
		return nil, errors.New("nflog source: no knock span and no ports to watch")
	}
	if len(cfg.Interface) >= ifNameSize {
		return nil, fmt.Errorf("nflog source: interface name %q is longer than %d bytes", cfg.Interface, ifNameSize-1)
	}
	if cfg.Batch < 0 || cfg.Batch > MaxBatch {
		return nil, fmt.Errorf("nflog source: batch of %d packets, want 0 to %d", cfg.Batch, MaxBatch)
	}
	if cfg.Batch == 0 {
		cfg.Batch = 1
	}
	if cfg.Group == 0 {
		cfg.Group = DefaultGroup
	}
	if cfg.Table == "" {
		cfg.Table = TableName(cfg.Group)
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	if cfg.Repair <= 0 {
		cfg.Repair = DefaultRepair
	}
	return &Source{
		cfg:    cfg,
		filter: packet.NewDoorFilter(packet.SpanPorts(cfg.Span, append(slices.Clone(cfg.Extra), cfg.DoorUDP...)...), packet.PortsOf(cfg.AnyFlags...), cfg.Now),
		ready:  make(chan struct{}),
	}, nil
}

// Ready is closed once Run listens and its rule is in place: knocks sent
// from then on are seen.
func (s *Source) Ready() <-chan struct{} { return s.ready }

// Counters implements source.Counters.
func (s *Source) Counters() map[string]uint64 {
	c := s.filter.Counters()
	c["rule_reinstalled"] = s.reinstalls.Load()
	return c
}

// Run installs the logging rule, delivers hits until ctx is done, then
// removes the rule. It returns an error when setting up fails or the
// socket fails for good; overruns and passing socket errors are counted.
func (s *Source) Run(ctx context.Context, out chan<- source.Hit) (err error) {
	r, err := s.listen(ctx, out)
	if err != nil {
		return err
	}
	defer r.stop()
	if err := install(s.cfg, packet.SpanPorts(s.cfg.Span, s.cfg.Extra...), s.filter.AnyFlags(), packet.PortsOf(s.cfg.DoorUDP...)); err != nil {
		return err
	}
	defer func() {
		if rerr := remove(s.cfg); err == nil {
			err = rerr
		}
	}()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	deleted := nft.WatchTable(wctx, s.cfg.NetNSFd, nftables.TableFamilyINet, s.cfg.Table)
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
	repair := time.NewTicker(s.cfg.Repair)
	defer repair.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-r.fatal:
			return err
		case <-deleted:
			s.repair()
		case <-repair.C:
			s.repair()
		}
	}
}

// repair puts the logging rule back if something removed it: a host
// firewall reload that starts with "flush ruleset" (Debian's
// nftables.service does) would otherwise leave the daemon deaf.
func (s *Source) repair() {
	present, err := installed(s.cfg)
	if err != nil || present {
		return
	}
	if install(s.cfg, packet.SpanPorts(s.cfg.Span, s.cfg.Extra...), s.filter.AnyFlags(), packet.PortsOf(s.cfg.DoorUDP...)) == nil {
		s.reinstalls.Add(1)
	}
}
