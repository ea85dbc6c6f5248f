package knockd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Stop is a stop command scheduled and not yet run, as kept in the
// pending-stops file (docs/knockd.md).
type Stop struct {
	Door    string     `json:"door"`
	Source  netip.Addr `json:"source"`
	Command string     `json:"command"`
	Due     time.Time  `json:"due"`
}

// LostStops reads the pending-stops file a previous run left: the stops
// it scheduled and never ran, because it crashed or was killed. A missing
// file means none.
func LostStops(path string) ([]Stop, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending stops: %w", err)
	}
	var out []Stop
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("pending stops %s: %w", path, err)
	}
	return out, nil
}

// list returns the pending stops by due time; r.mu is held.
func (r *Runner) list() []Stop {
	out := make([]Stop, 0, len(r.pending))
	for _, p := range r.pending {
		out = append(out, p.stop)
	}
	slices.SortFunc(out, func(a, b Stop) int { return a.Due.Compare(b.Due) })
	return out
}

// save rewrites the state file (a temporary file, then rename); r.mu is
// held.
func (r *Runner) save() error {
	if r.rc.StateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(r.list(), "", "\t")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(r.rc.StateFile), ".pending-stops-*")
	if err != nil {
		return fmt.Errorf("pending stops: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), r.rc.StateFile)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pending stops %s: %w", r.rc.StateFile, err)
	}
	return nil
}
