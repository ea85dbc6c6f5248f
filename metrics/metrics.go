// Package metrics exposes the daemon's counters in the Prometheus text
// format (version 0.0.4) on an HTTP handler.
//
// It is a few dozen lines instead of the Prometheus client library because
// the daemon needs only counters and gauges, and the library would bring a
// dozen modules to a security tool that should stay small. Counters are
// resolved once and then incremented atomically, so the knock decision
// path pays one atomic add per event and no map lookup.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds metric families in registration order.
type Registry struct {
	mu       sync.Mutex
	families []family
}

type family interface {
	write(w io.Writer)
}

// Counter is one monotonically increasing value.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Value returns the current count.
func (c *Counter) Value() uint64 { return c.v.Load() }

// CounterVec is a counter family with labels.
type CounterVec struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	series     map[string]*Counter
}

// Counter registers a counter family. With no labels, use With().
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	cv := &CounterVec{name: name, help: help, labels: labels, series: map[string]*Counter{}}
	r.mu.Lock()
	r.families = append(r.families, cv)
	r.mu.Unlock()
	return cv
}

// With returns the counter for these label values, creating it at zero.
func (cv *CounterVec) With(values ...string) *Counter {
	if len(values) != len(cv.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", cv.name, len(cv.labels), len(values)))
	}
	key := strings.Join(values, "\x00")
	cv.mu.Lock()
	defer cv.mu.Unlock()
	c, ok := cv.series[key]
	if !ok {
		c = &Counter{}
		cv.series[key] = c
	}
	return c
}

func (cv *CounterVec) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", cv.name, escapeHelp(cv.help), cv.name)
	cv.mu.Lock()
	keys := make([]string, 0, len(cv.series))
	for k := range cv.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s%s %d\n", cv.name, labelText(cv.labels, k), cv.series[k].Value())
	}
	cv.mu.Unlock()
}

type gauge struct {
	name, help string
	f          func() float64
}

// Gauge registers a value read from f at each scrape.
func (r *Registry) Gauge(name, help string, f func() float64) {
	r.mu.Lock()
	r.families = append(r.families, gauge{name, help, f})
	r.mu.Unlock()
}

func (g gauge) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", g.name, escapeHelp(g.help), g.name, g.name, g.f())
}

type counterMap struct {
	name, help, label string
	f                 func() map[string]uint64
}

// CounterMap registers a counter family read from f at each scrape, one
// series per key, the key as the label's value: for parts that keep
// their own counts, such as the knock sources.
func (r *Registry) CounterMap(name, help, label string, f func() map[string]uint64) {
	r.mu.Lock()
	r.families = append(r.families, counterMap{name, help, label, f})
	r.mu.Unlock()
}

func (c counterMap) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", c.name, escapeHelp(c.help), c.name)
	m := c.f()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s%s %d\n", c.name, labelText([]string{c.label}, k), m[k])
	}
}

// WriteText writes every family in the Prometheus text format.
func (r *Registry) WriteText(w io.Writer) {
	r.mu.Lock()
	fams := append([]family(nil), r.families...)
	r.mu.Unlock()
	for _, f := range fams {
		f.write(w)
	}
}

// Handler serves WriteText.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		r.WriteText(w)
	})
}

func labelText(names []string, key string) string {
	if len(names) == 0 {
		return ""
	}
	values := strings.Split(key, "\x00")
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + `="` + labelEscaper.Replace(values[i]) + `"`
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// The text format escapes backslash, newline and (in label values) the
// double quote.
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeHelp(s string) string { return helpEscaper.Replace(s) }
