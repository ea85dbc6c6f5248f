// Command knockbench measures knockdaemon side by side with knockd and
// fwknopd, on the same traffic, inside network namespaces it builds and
// removes: under a flood of spoofed SYNs, knock-to-open latency, over a
// lossy link, and through faults (SIGKILL, restart, log rotation). With
// -load it drives our daemon alone at rising flood rates.
//
//	sudo go run ./bench/cmd/knockbench -all
//	sudo go run ./bench/cmd/knockbench -flood -rates 10000 -flood-duration 5s
//	sudo go run ./bench/cmd/knockbench -load
//
// It writes machine-readable results, a latency chart and REPORT.md to
// docs/bench-results/ (-out). See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portknock/knock/bench/internal/flood"
	"github.com/portknock/knock/bench/internal/netns"
)

type options struct {
	all, flood, latency, lossy, faults, load bool
	adversarial, fwknop                      bool
	ebpf, ebpfLong                           bool
	reportOnly                               bool

	rates       []int
	floodDur    time.Duration
	legit       int
	knocks      int
	lossyN      int
	loadRates   []int
	loadDur     time.Duration
	advRates    []int
	fwknopRates []int
	ebpfRates   []int
	longCount   int
	ebpfRepeat  int
	ebpfLanes   []string
	ebpfKnocks  int
	longRate    int
	longPrefix  netip.Prefix
	advDur      time.Duration
	prefix      netip.Prefix
	loadPrefix  netip.Prefix
	targets     []string
	out         string
	timeout     time.Duration
	keep        bool
	src         string
	gap         time.Duration
	args        []string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("knockbench", flag.ContinueOnError)
	fs.BoolVar(&o.all, "all", false, "run every scenario (flood, latency, lossy, faults, adversarial, fwknop) and the daemon-load ramp")
	fs.BoolVar(&o.flood, "flood", false, "scenario 1: spoofed SYN flood at -rates, legitimate knocks during it")
	fs.BoolVar(&o.latency, "latency", false, "scenario 2: knock-to-open latency over -knocks knocks")
	fs.BoolVar(&o.lossy, "lossy", false, "scenario 3: real clients over a lossy link (tc netem)")
	fs.BoolVar(&o.faults, "faults", false, "scenario 4: SIGKILL while granted, restart and replay, log rotation")
	fs.BoolVar(&o.load, "load", false, "our daemon alone under a flood at rising -load-rates")
	fs.BoolVar(&o.adversarial, "adversarial", false, "one unspoofed source sending the worst sequence to the span at -adv-rates, real knocks during it")
	fs.BoolVar(&o.fwknop, "fwknop", false, "the fwknop client against fwknopd (pcap, UDP server) and knockdaemon (same access.conf): latency over -knocks, then garbage UDP to the SPA ports at -fwknop-rates with real knocks during it")
	fs.BoolVar(&o.ebpf, "ebpf", false, "spoofed SYNs over the span at -ebpf-rates, one lane at a time: no daemon, knockdaemon with capture = ebpf, afpacket, nflog, and knockd; daemon CPU and the machine's softirq per packet")
	fs.BoolVar(&o.ebpfLong, "ebpf-long", false, "a long flood of -long-count packets from -long-prefix at -long-rate to knockdaemon (ebpf, then afpacket): RSS every 5 s")
	ebpfRates := fs.String("ebpf-rates", "10000,100000", "rates of -ebpf, packets per second")
	fs.IntVar(&o.ebpfRepeat, "ebpf-repeat", 1, "runs of every -ebpf lane at every rate, interleaved (the machine's softirq is noisy)")
	ebpfLanes := fs.String("ebpf-lanes", strings.Join(ebpfLaneIDs, ","), "lanes of -ebpf, in order; of -ebpf-long, ours-ebpf and ours-afpacket")
	fs.IntVar(&o.ebpfKnocks, "ebpf-knocks", 50, "knocks on each -ebpf lane on a quiet link, one at a time, before its flood: knock-to-open latency")
	fs.IntVar(&o.longCount, "long-count", 10_000_000, "packets of -ebpf-long")
	fs.IntVar(&o.longRate, "long-rate", 100000, "rate of -ebpf-long, packets per second")
	longPrefix := fs.String("long-prefix", "11.0.0.0/8", "spoofed sources of -ebpf-long: 16 million addresses, so that 10 million random draws are mostly distinct")
	fwknopRates := fs.String("fwknop-rates", "10000,30000", "rates of -fwknop's garbage flood, packets per second to each SPA port")
	advRates := fs.String("adv-rates", "3000,30000", "rates of -adversarial, packets per second")
	fs.DurationVar(&o.advDur, "adv-duration", 10*time.Second, "length of each -adversarial step")
	fs.BoolVar(&o.reportOnly, "report", false, "run nothing: render REPORT.md, the CSV files and the chart again from results.json")
	rates := fs.String("rates", "10000,50000,100000", "flood rates, packets per second")
	fs.DurationVar(&o.floodDur, "flood-duration", 20*time.Second, "length of each flood")
	fs.IntVar(&o.legit, "legit", 7, "legitimate knocks per daemon during each flood")
	fs.IntVar(&o.knocks, "knocks", 200, "knocks per daemon for the latency figures")
	fs.IntVar(&o.lossyN, "lossy-attempts", 100, "attempts per client over the lossy link")
	loadRates := fs.String("load-rates", "5000,10000,20000,50000,100000,200000", "flood rates of -load")
	fs.DurationVar(&o.loadDur, "load-duration", 10*time.Second, "length of each -load step")
	prefix := fs.String("prefix", "10.200.0.0/16", "IPv4 prefix the flood's spoofed sources are drawn from")
	loadPrefix := fs.String("load-prefix", "100.64.0.0/10", "spoofed sources of -load: wider, 4 million addresses, to show memory bounded by the tracker, not by the flood")
	targets := fs.String("targets", "span,sequence", "what the flood hits: span (all 256 ports of the knock span) and/or sequence (knockd's 3 ports, inside the span)")
	fs.StringVar(&o.out, "out", "docs/bench-results", "directory of the results, chart and REPORT.md")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Minute, "give up (and clean up) after this long")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (configurations, daemon logs)")
	fs.StringVar(&o.src, "src", "head", "build our programs from the last commit (head) or the working tree (worktree)")
	fs.DurationVar(&o.gap, "gap", time.Millisecond, "pause between the packets of one knock sent by the harness")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.rates, err = intList(*rates); err != nil {
		return o, fmt.Errorf("-rates: %w", err)
	}
	if o.loadRates, err = intList(*loadRates); err != nil {
		return o, fmt.Errorf("-load-rates: %w", err)
	}
	if o.advRates, err = intList(*advRates); err != nil {
		return o, fmt.Errorf("-adv-rates: %w", err)
	}
	if o.fwknopRates, err = intList(*fwknopRates); err != nil {
		return o, fmt.Errorf("-fwknop-rates: %w", err)
	}
	if o.ebpfRates, err = intList(*ebpfRates); err != nil {
		return o, fmt.Errorf("-ebpf-rates: %w", err)
	}
	if o.longPrefix, err = netip.ParsePrefix(*longPrefix); err != nil {
		return o, fmt.Errorf("-long-prefix: %w", err)
	}
	if o.ebpfLanes, err = ebpfLaneList(*ebpfLanes); err != nil {
		return o, fmt.Errorf("-ebpf-lanes: %w", err)
	}
	if o.ebpfKnocks < 0 || o.ebpfKnocks > 10000 {
		return o, fmt.Errorf("-ebpf-knocks %d: want 0 to 10000", o.ebpfKnocks)
	}
	if o.ebpfRepeat < 1 || o.ebpfRepeat > 10 {
		return o, fmt.Errorf("-ebpf-repeat %d: want 1 to 10", o.ebpfRepeat)
	}
	if o.longCount <= 0 || o.longCount > flood.MaxCount {
		return o, fmt.Errorf("-long-count %d: want 1 to %d", o.longCount, flood.MaxCount)
	}
	for _, r := range o.fwknopRates {
		if r <= 0 || r*len(fwknopSPAPorts) > flood.MaxRate {
			return o, fmt.Errorf("-fwknop-rates: %d: want 1 to %d (per port, %d ports)", r, flood.MaxRate/len(fwknopSPAPorts), len(fwknopSPAPorts))
		}
	}
	if o.prefix, err = netip.ParsePrefix(*prefix); err != nil {
		return o, fmt.Errorf("-prefix: %w", err)
	}
	if o.loadPrefix, err = netip.ParsePrefix(*loadPrefix); err != nil {
		return o, fmt.Errorf("-load-prefix: %w", err)
	}
	for _, t := range strings.Split(*targets, ",") {
		if t = strings.TrimSpace(t); t != "span" && t != "sequence" {
			return o, fmt.Errorf("-targets: %q is neither span nor sequence", t)
		}
		o.targets = append(o.targets, strings.TrimSpace(t))
	}
	for _, r := range append(append(append(append([]int{o.longRate}, o.rates...), o.loadRates...), o.advRates...), o.ebpfRates...) {
		if r <= 0 || r > flood.MaxRate {
			return o, fmt.Errorf("flood rate %d: want 1 to %d", r, flood.MaxRate)
		}
	}
	if o.floodDur <= 0 || o.floodDur > flood.MaxDuration || o.loadDur <= 0 || o.loadDur > flood.MaxDuration || o.advDur < 4*time.Second || o.advDur > flood.MaxDuration {
		return o, fmt.Errorf("flood durations must be more than 0 (-adv-duration at least 4s) and at most %s", flood.MaxDuration)
	}
	if o.src != "head" && o.src != "worktree" {
		return o, fmt.Errorf("-src %q: want head or worktree", o.src)
	}
	if o.all {
		o.flood, o.latency, o.lossy, o.faults, o.load, o.adversarial, o.fwknop, o.ebpf, o.ebpfLong = true, true, true, true, true, true, true, true, true
	}
	if !o.flood && !o.latency && !o.lossy && !o.faults && !o.load && !o.adversarial && !o.fwknop && !o.ebpf && !o.ebpfLong && !o.reportOnly {
		return o, errors.New("nothing to run: give -all, or some of -flood -latency -lossy -faults -load -adversarial -fwknop -ebpf -ebpf-long")
	}
	o.args = args
	return o, nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	opt, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "knockbench:", err)
		os.Exit(1)
	}
	if opt.reportOnly {
		if err := rerender(opt); err != nil {
			fmt.Fprintln(os.Stderr, "knockbench:", err)
			os.Exit(1)
		}
		return
	}
	if err := preflight(); err != nil {
		fmt.Fprintln(os.Stderr, "knockbench:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opt.timeout)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "knockbench: interrupted; stopping the daemons and removing the namespaces (again to force)")
		cancel()
		<-sigs
		forceCleanup()
		os.Exit(130)
	}()
	err = func() error {
		defer func() {
			if p := recover(); p != nil {
				forceCleanup() // a bug must not leave namespaces behind
				panic(p)
			}
		}()
		return run(ctx, opt)
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "knockbench:", err)
		os.Exit(2)
	}
}

// preflight checks root and the tools, and removes namespaces left by a
// harness that died without cleaning up.
func preflight() error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: the harness builds network namespaces (sudo go run ./bench/cmd/knockbench -all)")
	}
	var missing []string
	for tool, pkg := range map[string]string{"ip": "iproute2", "tc": "iproute2", "nft": "nftables", "iptables": "iptables",
		"knockd": "knockd", "knock": "knockd", "fwknopd": "fwknop-server", "fwknop": "fwknop-client", "go": "golang", "git": "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, fmt.Sprintf("%s (apt-get install %s)", tool, pkg))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %s", strings.Join(missing, ", "))
	}
	for _, n := range netns.Stale() {
		fmt.Fprintf(os.Stderr, "knockbench: removing %s, left by a harness that is gone\n", n.Name)
		n.Delete()
	}
	return nil
}

// forceCleanup removes this process's namespaces at once (second Ctrl-C).
func forceCleanup() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			if pid, ok := netns.OwnerPid(f[0]); ok && pid == os.Getpid() {
				(&netns.NS{Name: f[0]}).Delete()
			}
		}
	}
}

func run(ctx context.Context, opt options) error {
	h, err := newHarness(opt)
	if err != nil {
		return err
	}
	defer h.close()
	type scenario struct {
		on   bool
		name string
		f    func(context.Context) error
	}
	var errs []error
	for _, s := range []scenario{
		{opt.flood, "flood", h.runFlood},
		{opt.latency, "latency", h.runLatency},
		{opt.lossy, "lossy", h.runLossy},
		{opt.faults, "faults", h.runFaults},
		{opt.load, "load", h.runLoad},
		{opt.adversarial, "adversarial", h.runAdversarial},
		{opt.fwknop, "fwknop", h.runFwknop},
		{opt.ebpf, "ebpf", h.runEBPF},
		{opt.ebpfLong, "ebpf-long", h.runEBPFLong},
	} {
		if !s.on || ctx.Err() != nil {
			continue
		}
		h.logf("== %s", s.name)
		if err := h.scenario(ctx, s.f); err != nil {
			h.logf("%s: %v", s.name, err)
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
		if err := h.save(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	h.logf("results in %s", filepath.Join(opt.out, "REPORT.md"))
	return errors.Join(errs...)
}

// scenario runs f in a fresh pair of namespaces, removed afterwards
// whatever happens.
func (h *harness) scenario(ctx context.Context, f func(context.Context) error) error {
	if err := h.openTopo(); err != nil {
		return err
	}
	defer h.closeTopo()
	return f(ctx)
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
