package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/portknock/knock/bench/internal/flood"
	"github.com/portknock/knock/bench/internal/proc"
)

// harness is one run: the work directory, our built programs, the
// namespaces of the scenario running, and the results so far.
type harness struct {
	opt     options
	work    string
	root    string // the module's directory
	bin     struct{ daemon, client string }
	topo    *topo
	knocker *flood.Raw // raw socket in the client namespace for legitimate knocks
	res     *results
	fwkeys  fwknopKeys
}

func newHarness(opt options) (*harness, error) {
	h := &harness{opt: opt}
	var err error
	if h.root, err = moduleRoot(); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(opt.out) {
		h.opt.out = filepath.Join(h.root, opt.out)
	}
	if h.work, err = os.MkdirTemp("", "knockbench-"); err != nil {
		return nil, err
	}
	h.res = loadResults(filepath.Join(h.opt.out, "results.json"))
	h.res.Machine = describeMachine()
	if err := h.build(); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// close removes the work directory (unless -keep).
func (h *harness) close() {
	h.closeTopo()
	if h.opt.keep {
		h.logf("work directory kept: %s", h.work)
		return
	}
	os.RemoveAll(h.work)
}

func (h *harness) openTopo() error { return h.openTopoLink(false) }

// openTopoLink builds the namespaces, through the lossy relay if asked.
func (h *harness) openTopoLink(lossyLink bool) error {
	t, err := newTopo([]netip.Prefix{h.opt.prefix, h.opt.loadPrefix, h.opt.longPrefix}, lossyLink)
	if err != nil {
		return err
	}
	h.topo = t
	return t.client.Do(func() error {
		h.knocker, err = flood.OpenRaw(hostIP)
		return err
	})
}

func (h *harness) closeTopo() {
	if h.knocker != nil {
		h.knocker.Close()
		h.knocker = nil
	}
	if h.topo != nil {
		h.topo.close()
		h.topo = nil
	}
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/portknock/knock\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the knock module (its go.mod was not found above the current directory)")
		}
		dir = parent
	}
}

// build compiles knockdaemon and knockclient, from the last commit (a
// clean export, so that what is measured is what is committed) or from
// the working tree.
func (h *harness) build() error {
	src := h.root
	commit, _ := exec.Command("git", "-C", h.root, "rev-parse", "HEAD").Output()
	h.res.Commit = strings.TrimSpace(string(commit))
	h.res.Source = h.opt.src
	if h.opt.src == "head" {
		src = filepath.Join(h.work, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		tar := filepath.Join(h.work, "src.tar")
		if out, err := exec.Command("git", "-C", h.root, "archive", "--format=tar", "-o", tar, "HEAD").CombinedOutput(); err != nil {
			return fmt.Errorf("git archive: %w: %s", err, out)
		}
		if out, err := exec.Command("tar", "-xf", tar, "-C", src).CombinedOutput(); err != nil {
			return fmt.Errorf("tar: %w: %s", err, out)
		}
	} else if out, _ := exec.Command("git", "-C", h.root, "status", "--porcelain", "--", "cmd", "client", "daemon", "service", "source", "firewall", "sealed").Output(); len(out) > 0 {
		h.res.Source = "worktree (with uncommitted changes)"
	}
	h.bin.daemon = filepath.Join(h.work, "bin", "knockdaemon")
	h.bin.client = filepath.Join(h.work, "bin", "knockclient")
	for _, c := range []struct{ out, pkg string }{{h.bin.daemon, "./cmd/knockdaemon"}, {h.bin.client, "./cmd/knockclient"}} {
		cmd := exec.Command("go", "build", "-o", c.out, c.pkg)
		cmd.Dir = src
		// As the Debian package builds them: static, no cgo (so no libc
		// pages in the daemon's resident memory).
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s from %s: %w: %s", c.pkg, h.opt.src, err, out)
		}
	}
	return nil
}

// machine is what the numbers were measured on.
type machine struct {
	CPU      string `json:"cpu"`
	Cores    int    `json:"cores"`
	Kernel   string `json:"kernel"`
	MemoryGB int    `json:"memory_gb"`
	Go       string `json:"go"`
	Knockd   string `json:"knockd"`
	Fwknopd  string `json:"fwknopd"`
	Iptables string `json:"iptables"`
	Nft      string `json:"nft"`
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		m.MemoryGB = (kb + 512*1024) / (1024 * 1024)
	}
	first := func(name string, args ...string) string {
		out, _ := exec.Command(name, args...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	m.Knockd = first("knockd", "-V")
	m.Fwknopd = first("fwknopd", "-V")
	m.Iptables = first("iptables", "-V")
	m.Nft = first("nft", "-v")
	return m
}

// loadNow is the load average, for the report.
func loadNow() [3]float64 {
	l, _ := proc.Load()
	return l
}

// stamp is when and under what load a scenario ran.
type stamp struct {
	Started    time.Time  `json:"started"`
	Finished   time.Time  `json:"finished"`
	LoadBefore [3]float64 `json:"load_before"`
	LoadAfter  [3]float64 `json:"load_after"`
	Command    string     `json:"command"`
}

func (h *harness) begin(flagText string) stamp {
	return stamp{Started: time.Now().UTC(), LoadBefore: loadNow(), Command: "sudo go run ./bench/cmd/knockbench " + flagText}
}

func (s *stamp) end() {
	s.Finished = time.Now().UTC()
	s.LoadAfter = loadNow()
}

// rerender writes the report, tables and chart again from results.json.
func rerender(opt options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(opt.out) {
		opt.out = filepath.Join(root, opt.out)
	}
	path := filepath.Join(opt.out, "results.json")
	if _, err := os.Stat(path); err != nil {
		return err
	}
	h := &harness{opt: opt, res: loadResults(path)}
	return h.save()
}

// save writes results.json, the CSV files, the chart and REPORT.md.
func (h *harness) save() error {
	if err := os.MkdirAll(h.opt.out, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(h.res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(h.opt.out, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeCSVs(h.opt.out, h.res); err != nil {
		return err
	}
	if err := writeChart(filepath.Join(h.opt.out, "latency.png"), h.res); err != nil {
		return err
	}
	h.writeEBPF()
	summary, _ := os.ReadFile(filepath.Join(h.opt.out, "summary.md"))
	return os.WriteFile(filepath.Join(h.opt.out, "REPORT.md"), []byte(report(h.res, string(summary))), 0o644)
}
