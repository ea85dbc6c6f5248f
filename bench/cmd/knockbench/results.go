package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/portknock/knock/bench/internal/chart"
	"github.com/portknock/knock/bench/internal/stats"
)

// results is everything a run measured; results.json holds it. A run of
// some scenarios keeps the others' results from the file it finds.
type results struct {
	Machine machine        `json:"machine"`
	Commit  string         `json:"commit"`
	Source  string         `json:"source"`
	Flood   *floodResult   `json:"flood,omitempty"`
	Latency *latencyResult `json:"latency,omitempty"`
	Lossy   *lossyResult   `json:"lossy,omitempty"`
	Faults  *faultResult   `json:"faults,omitempty"`
	Load    *loadResult    `json:"load,omitempty"`

	Adversarial *advResult    `json:"adversarial,omitempty"`
	Fwknop      *fwknopResult `json:"fwknop,omitempty"`
	EBPF        *ebpfResult   `json:"ebpf,omitempty"`
}

// The fwknop scenario: latency of the three lanes, then one flood run
// per rate (Rate is per SPA port; CPU per packet counts the packets sent
// to the daemon's own port).
type fwknopResult struct {
	stamp
	UptimeBefore string         `json:"uptime_before"`
	UptimeAfter  string         `json:"uptime_after"`
	Knocks       int            `json:"knocks"`
	Lanes        []*latencyLane `json:"lanes"`
	Prefix       string         `json:"prefix"`
	Duration     time.Duration  `json:"duration_ns"`
	Legit        int            `json:"legit_per_daemon"`
	Payload      int            `json:"garbage_bytes"`
	Runs         []*floodRun    `json:"runs"`
}

func loadResults(path string) *results {
	r := &results{}
	if b, err := os.ReadFile(path); err == nil {
		if json.Unmarshal(b, r) != nil {
			r = &results{}
		}
	}
	return r
}

// Scenario 1.
type floodResult struct {
	stamp
	Prefix   string        `json:"prefix"`
	Duration time.Duration `json:"duration_ns"`
	Legit    int           `json:"legit_per_daemon"`
	Runs     []*floodRun   `json:"runs"`
}

type floodRun struct {
	Target    string         `json:"target"`
	Rate      int            `json:"rate"`
	Sent      uint64         `json:"sent"`
	Failed    uint64         `json:"send_failed"`
	Achieved  float64        `json:"achieved_pps"`
	Elapsed   time.Duration  `json:"elapsed_ns"`
	HostRx    uint64         `json:"host_rx_packets"`
	HostDrops uint64         `json:"host_rx_dropped"`
	Load      [3]float64     `json:"load_after"`
	Daemons   []*floodDaemon `json:"daemons"`
}

type floodDaemon struct {
	ID            string             `json:"id"`
	Label         string             `json:"label"`
	Err           string             `json:"err,omitempty"`
	CPU           time.Duration      `json:"cpu_ns"`
	CPUOwn        time.Duration      `json:"cpu_own_ns"`
	CPUPerMpkt    float64            `json:"cpu_s_per_million_packets"`
	RSSStart      uint64             `json:"rss_start_kib"`
	RSSEnd        uint64             `json:"rss_end_kib"`
	HWM           uint64             `json:"vm_hwm_kib"`
	RSS           []uint64           `json:"rss_kib_each_second"`
	Legit         []result           `json:"legit"`
	Opened        int                `json:"legit_opened"`
	Spoofed       int                `json:"spoofed_addresses_granted"`
	SpoofedSample []string           `json:"spoofed_sample,omitempty"`
	Counters      map[string]float64 `json:"counters,omitempty"`
	Alive         bool               `json:"alive_at_end"`
}

// Scenario 2.
type latencyResult struct {
	stamp
	Knocks int            `json:"knocks"`
	Lanes  []*latencyLane `json:"lanes"`
}

type latencyLane struct {
	ID          string          `json:"id"`
	Label       string          `json:"label"`
	Err         string          `json:"err,omitempty"`
	Opened      int             `json:"opened"`
	Total       int             `json:"total"`
	Summary     stats.Summary   `json:"summary"`
	Samples     []time.Duration `json:"samples_ns"`
	CPUPerKnock time.Duration   `json:"cpu_per_knock_ns"`
	Errors      []string        `json:"errors,omitempty"`
}

// Scenario 3.
type lossyResult struct {
	stamp
	Netem    string         `json:"netem"`
	Within   time.Duration  `json:"within_ns"`
	Attempts int            `json:"attempts"`
	Clients  []*lossyClient `json:"clients"`
}

type lossyClient struct {
	ID      string          `json:"id"`
	Label   string          `json:"label"`
	Command string          `json:"command"`
	Err     string          `json:"err,omitempty"`
	Opened  int             `json:"opened"`
	Total   int             `json:"total"`
	Share   float64         `json:"share"`
	Times   []time.Duration `json:"time_to_open_ns"`
	Summary stats.Summary   `json:"summary"`
	Errors  []string        `json:"errors,omitempty"`
}

// Scenario 4.
type faultResult struct {
	stamp
	Mode     string        `json:"mode"` // how the kill and restart daemon read knocks
	Kill     killFault     `json:"kill"`
	Restart  restartFault  `json:"restart"`
	Rotation rotationFault `json:"rotation"`
}

type killFault struct {
	Grant         time.Duration `json:"grant_ns"`
	OpenBefore    bool          `json:"open_before_kill"`
	Killed        bool          `json:"daemon_gone"`
	OpenAfterKill bool          `json:"open_after_kill"`
	ClosedAfter   time.Duration `json:"closed_after_ns"` // from the port opening to the first refused attempt
	StaysClosed   bool          `json:"stays_closed"`
	Pass          bool          `json:"pass"`
	Err           string        `json:"err,omitempty"`
}

type restartFault struct {
	Restarted     bool    `json:"restarted"`
	ReplayOpened  bool    `json:"replay_opened"`
	ReplayRefused float64 `json:"replay_rejections"` // knockdaemon_knocks_rejected_total{reason="replay"} after
	FreshOpened   bool    `json:"fresh_opened"`
	Pass          bool    `json:"pass"`
	Err           string  `json:"err,omitempty"`
}

type rotationFault struct {
	Knocks     int           `json:"knocks"`
	Lines      int           `json:"lines"`
	Duration   time.Duration `json:"duration_ns"`
	Renames    int           `json:"rotations_rename"`
	Copytruncs int           `json:"rotations_copytruncate"`
	Accepted   int           `json:"accepted"`
	Granted    int           `json:"granted"`
	Lost       []lostKnock   `json:"lost,omitempty"`
	Pass       bool          `json:"pass"`
	Err        string        `json:"err,omitempty"`
}

// lostKnock is where the lines of a knock the daemon never accepted
// ended up.
type lostKnock struct {
	Src      string `json:"src"`
	File     string `json:"file,omitempty"`     // the log file holding its lines
	Rotation string `json:"rotation,omitempty"` // how that file was set aside: rename, copytruncate, or "" (the live log)
	Last     bool   `json:"last_knock_in_file"` // no other knock's line follows it there
}

// The daemon-load ramp.
type loadResult struct {
	stamp
	Step   time.Duration `json:"step_ns"`
	Prefix string        `json:"prefix"`
	Series []*loadSeries `json:"series"`
}

type loadSeries struct {
	ID    string       `json:"id"`
	Label string       `json:"label"`
	Err   string       `json:"err,omitempty"`
	Quiet []*quietStep `json:"quiet"`
	Steps []*loadStep  `json:"steps"`
}

// quietStep is the CPU of knocks on a daemon that has nothing else to do.
type quietStep struct {
	Lane     string        `json:"lane"`
	Knocks   int           `json:"knocks"`
	Opened   int           `json:"opened"`
	CPU      time.Duration `json:"cpu_ns"`
	PerKnock time.Duration `json:"cpu_per_knock_ns"`
	Median   time.Duration `json:"median_ns"`
}

type loadStep struct {
	Rate       int                `json:"rate"`
	Sent       uint64             `json:"sent"`
	Achieved   float64            `json:"achieved_pps"`
	Seen       float64            `json:"seen"`
	SeenPerSec float64            `json:"seen_per_s"`
	CPU        time.Duration      `json:"cpu_ns"`
	CPUShare   float64            `json:"cpu_share_of_one_core"`
	CPUPerMpkt float64            `json:"cpu_s_per_million_packets"`
	RSS        uint64             `json:"rss_kib"`
	HWM        uint64             `json:"vm_hwm_kib"`
	Opened     int                `json:"legit_opened"`
	Legit      int                `json:"legit"`
	Counters   map[string]float64 `json:"counters,omitempty"`
}

// writeCSVs writes one flat table per scenario, for spreadsheets.
func writeCSVs(dir string, r *results) error {
	tables := map[string][][]string{}
	if f := r.Flood; f != nil {
		t := [][]string{{"target", "rate_asked", "rate_achieved", "daemon", "cpu_s", "cpu_s_per_million_packets", "rss_start_kib", "rss_end_kib", "vm_hwm_kib", "legit_opened", "legit_total", "spoofed_granted", "error"}}
		for _, run := range f.Runs {
			for _, d := range run.Daemons {
				t = append(t, []string{run.Target, itoa(run.Rate), ftoa(run.Achieved), d.ID, ftoa(d.CPU.Seconds()), ftoa(d.CPUPerMpkt),
					utoa(d.RSSStart), utoa(d.RSSEnd), utoa(d.HWM), itoa(d.Opened), itoa(len(d.Legit)), itoa(d.Spoofed), d.Err})
			}
		}
		tables["flood.csv"] = t
	}
	if l := r.Latency; l != nil {
		t := [][]string{{"lane", "opened", "total", "median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "cpu_ms_per_knock", "error"}}
		raw := [][]string{{"lane", "knock", "latency_ms"}}
		for _, ln := range l.Lanes {
			s := ln.Summary
			t = append(t, []string{ln.ID, itoa(ln.Opened), itoa(ln.Total), ms(s.Median), ms(s.P90), ms(s.P99), ms(s.Min), ms(s.Max), ms(ln.CPUPerKnock), ln.Err})
			for i, v := range ln.Samples {
				raw = append(raw, []string{ln.ID, itoa(i), ms(v)})
			}
		}
		tables["latency.csv"] = t
		tables["latency-samples.csv"] = raw
	}
	if l := r.Lossy; l != nil {
		t := [][]string{{"client", "opened", "total", "share", "median_s", "p99_s", "error"}}
		for _, c := range l.Clients {
			t = append(t, []string{c.ID, itoa(c.Opened), itoa(c.Total), ftoa(c.Share), ftoa(c.Summary.Median.Seconds()), ftoa(c.Summary.P99.Seconds()), c.Err})
		}
		tables["lossy.csv"] = t
	}
	if l := r.Load; l != nil {
		t := [][]string{{"daemon", "rate_asked", "rate_achieved", "seen_per_s", "cpu_share", "cpu_s_per_million_packets", "rss_kib", "vm_hwm_kib", "legit_opened", "legit"}}
		for _, s := range l.Series {
			for _, st := range s.Steps {
				t = append(t, []string{s.ID, itoa(st.Rate), ftoa(st.Achieved), ftoa(st.SeenPerSec), ftoa(st.CPUShare), ftoa(st.CPUPerMpkt), utoa(st.RSS), utoa(st.HWM), itoa(st.Opened), itoa(st.Legit)})
			}
		}
		tables["load.csv"] = t
	}
	if f := r.Fwknop; f != nil {
		t := [][]string{{"lane", "opened", "total", "median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "cpu_ms_per_knock", "error"}}
		raw := [][]string{{"lane", "knock", "latency_ms"}}
		for _, ln := range f.Lanes {
			s := ln.Summary
			t = append(t, []string{ln.ID, itoa(ln.Opened), itoa(ln.Total), ms(s.Median), ms(s.P90), ms(s.P99), ms(s.Min), ms(s.Max), ms(ln.CPUPerKnock), ln.Err})
			for i, v := range ln.Samples {
				raw = append(raw, []string{ln.ID, itoa(i), ms(v)})
			}
		}
		tables["fwknop-latency.csv"] = t
		tables["fwknop-latency-samples.csv"] = raw
		fl := [][]string{{"rate_per_port", "rate_achieved_total", "daemon", "cpu_s", "cpu_us_per_flood_packet", "rss_end_kib", "legit_opened", "legit_total", "spoofed_granted", "error"}}
		for _, run := range f.Runs {
			for _, d := range run.Daemons {
				fl = append(fl, []string{itoa(run.Rate), ftoa(run.Achieved), d.ID, ftoa(d.CPU.Seconds()), ftoa(d.CPUPerMpkt), utoa(d.RSSEnd), itoa(d.Opened), itoa(len(d.Legit)), itoa(d.Spoofed), d.Err})
			}
		}
		tables["fwknop-flood.csv"] = fl
	}
	for name, rows := range tables {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		w := csv.NewWriter(f)
		w.WriteAll(rows)
		if err := w.Error(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func itoa(n int) string         { return strconv.Itoa(n) }
func utoa(n uint64) string      { return strconv.FormatUint(n, 10) }
func ftoa(f float64) string     { return strconv.FormatFloat(f, 'g', 6, 64) }
func ms(d time.Duration) string { return fmt.Sprintf("%.3f", stats.Ms(d)) }

// writeChart draws the latency figure, when there is one.
func writeChart(path string, r *results) error {
	if r.Latency == nil {
		return nil
	}
	s := chart.Strip{
		Title: "Knock-to-open latency",
		Note:  fmt.Sprintf("%d knocks per daemon, one at a time, in network namespaces on %d cores (%s); load average %.1f at the start", r.Latency.Knocks, r.Machine.Cores, r.Machine.CPU, r.Latency.LoadBefore[0]),
	}
	for _, ln := range r.Latency.Lanes {
		s.Series = append(s.Series, chart.Series{Label: ln.Label, Values: ln.Samples, Failed: ln.Total - ln.Opened})
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := s.WritePNG(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
