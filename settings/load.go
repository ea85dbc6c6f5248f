package settings

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/portknock/knock/conffile"
)

// Value is a parameter's text and where it came from.
type Value struct {
	Text   string
	Values []string // for List parameters: every value, in order
	Origin string   // "file:line", "command line" or "default"
}

// Set is the raw parameters of one program, before typing.
type Set struct {
	prog Program
	vals map[string]Value
	File string // the configuration file read, "" if none
	// Users are the file's <user NAME> blocks, in file order, for the
	// daemon's users package to type; the knockclient ignores them.
	Users    []*conffile.Block
	others   map[string]Value // the other program's keys in the file, ignored
	Ignore   []string         // keys of the other program, seen and ignored
	searched []string         // where the file was looked for, when -conf was not given
}

// Get returns a parameter's value, its default when unset.
func (s *Set) Get(name string) Value {
	if v, ok := s.vals[name]; ok {
		return v
	}
	p, _ := Lookup(name)
	v := Value{Text: p.Default, Origin: "default"}
	if p.Kind == List && p.Default != "" {
		v.Values = []string{p.Default}
	}
	return v
}

// IsSet reports whether the file or command line set name.
func (s *Set) IsSet(name string) bool {
	_, ok := s.vals[name]
	return ok
}

// Names returns the names set explicitly, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.vals))
	for n := range s.vals {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SearchPath returns where a program looks for its file when -conf is not
// given, in order, as the prototype did: the home directory, beside the
// program (BIN, BIN/etc, BIN/../etc), then /etc. Only the first found is
// read.
func SearchPath(name string) []string {
	var out []string
	if home, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(home, "."+name+".conf"))
	}
	if exe, err := os.Executable(); err == nil {
		bin := filepath.Dir(exe)
		out = append(out,
			filepath.Join(bin, name+".conf"),
			filepath.Join(bin, "etc", name+".conf"),
			filepath.Join(bin, "..", "etc", name+".conf"))
	}
	out = append(out, filepath.Join("/etc", name+".conf"))
	// BIN/../etc is /etc when the program lives in /usr/bin: list it once.
	seen := map[string]bool{}
	uniq := out[:0]
	for _, p := range out {
		if p = filepath.Clean(p); !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	return uniq
}

// Load reads the program's settings: the file given by -conf, or the
// first file of search, then the <profile> block chosen by -profile, then
// the command line over both.
func Load(prog Program, args []string, search []string) (*Set, error) {
	cli, err := parseArgs(prog, args)
	if err != nil {
		return nil, err
	}
	s := &Set{prog: prog, vals: map[string]Value{}}
	path := cli.vals["conf"].Text
	if path == "" {
		s.searched = search
		path = firstExisting(search)
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("-conf %q: %w", path, err)
	}
	if path != "" && !cli.has("h") && !cli.has("man") && !cli.has("version") {
		if err := s.readFile(path, cli.vals["profile"].Text); err != nil {
			return nil, err
		}
	} else if p := cli.vals["profile"].Text; p != "" {
		return nil, fmt.Errorf("-profile %q: no configuration file was found (looked in %s)", p, strings.Join(search, ", "))
	}
	for name, v := range cli.vals {
		if old, ok := s.vals[name]; ok && isList(name) {
			v.Values = append(old.Values, v.Values...)
		}
		s.vals[name] = v
	}
	return s, nil
}

func isList(name string) bool {
	p, _ := Lookup(name)
	return p.Kind == List
}

func firstExisting(paths []string) string {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// readFile reads the file's top level, then the chosen profile over it.
func (s *Set) readFile(path, profile string) error {
	root, err := conffile.ParseFile(path)
	if err != nil {
		return err
	}
	s.File = path
	if err := s.readBlock(root, map[string]conffile.Pos{}); err != nil {
		return err
	}
	if profile == "" {
		return nil
	}
	var names []string
	for _, b := range root.Blocks("profile") {
		if b.Label == profile {
			// A profile overrides the top level: its keys start afresh.
			return s.readBlock(b, map[string]conffile.Pos{})
		}
		names = append(names, fmt.Sprintf("%q", b.Label))
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: -profile %q: the file has no <profile NAME> blocks", path, profile)
	}
	return fmt.Errorf("%s: -profile %q: no such profile; the file has %s", path, profile, strings.Join(names, ", "))
}

func (s *Set) readBlock(b *conffile.Block, seen map[string]conffile.Pos) error {
	for _, it := range b.Items {
		if it.Block != nil {
			if it.Block.Name == "profile" && b.Name == "" {
				if !it.Block.Named {
					return &conffile.Error{Pos: it.Pos, Msg: "a profile block needs a name: <profile NAME>"}
				}
				continue
			}
			if it.Block.Name == "user" && b.Name == "" {
				if !it.Block.Named || it.Block.Label == "" {
					return &conffile.Error{Pos: it.Pos, Msg: "a user block needs a name: <user NAME>"}
				}
				if s.prog&Daemon != 0 {
					s.Users = append(s.Users, it.Block)
				}
				continue
			}
			return &conffile.Error{Pos: it.Pos, Msg: fmt.Sprintf("unexpected block <%s>: the only blocks are <profile NAME> and <user NAME> at the top level", it.Block.Name)}
		}
		if err := s.setFromFile(it, seen); err != nil {
			return err
		}
	}
	return nil
}

func (s *Set) setFromFile(it conffile.Item, seen map[string]conffile.Pos) error {
	p, ok := Lookup(it.Key)
	if !ok || p.CLIOnly {
		msg := fmt.Sprintf("unknown key %q", it.Key)
		if hint := suggest(it.Key, Both); hint != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", hint)
		}
		if p.CLIOnly {
			msg = fmt.Sprintf("%q is a command-line switch (-%s), not a configuration key", it.Key, it.Key)
		}
		return &conffile.Error{Pos: it.Pos, Msg: msg}
	}
	if it.Bare {
		return &conffile.Error{Pos: it.Pos, Msg: fmt.Sprintf("key %q has no value: expected %s", it.Key, expected(p))}
	}
	if p.For&s.prog == 0 {
		s.Ignore = append(s.Ignore, it.Key)
		if s.others == nil {
			s.others = map[string]Value{}
		}
		s.others[p.Name] = Value{Text: it.Value, Values: []string{it.Value}, Origin: it.Pos.String()}
		return nil
	}
	prev, again := seen[p.Name]
	if again && p.Kind != List {
		return &conffile.Error{Pos: it.Pos, Msg: fmt.Sprintf("key %q is set twice (first at %s)", it.Key, prev)}
	}
	seen[p.Name] = it.Pos
	v := s.vals[p.Name]
	if p.Kind == List {
		if !again {
			v.Values = nil // a profile's list replaces the top level's
		}
		v.Values = append(v.Values, it.Value)
	}
	v.Text, v.Origin = it.Value, it.Pos.String()
	if err := checkValue(s.prog, p, it.Value); err != nil {
		return &conffile.Error{Pos: it.Pos, Msg: fmt.Sprintf("%s: %v", it.Key, err)}
	}
	s.vals[p.Name] = v
	return nil
}

// Missing reports a required parameter that nobody set, naming the file
// that was read (or saying none was).
func (s *Set) Missing(name, why string) error {
	if s.File != "" {
		return fmt.Errorf("%s: %s: no value is set: %s", s.File, name, why)
	}
	where := "no configuration file was given (-conf)"
	if len(s.searched) > 0 {
		where = "no configuration file was found (looked for " + strings.Join(s.searched, ", ") + "; examples/ in the source has commented ones)"
	}
	return fmt.Errorf("%s: no value is set: %s; %s", name, why, where)
}

// Errorf returns an error about parameter name, placed where its value
// came from (file:line, or the command line).
func (s *Set) Errorf(name, format string, args ...any) error {
	v := s.Get(name)
	err := fmt.Errorf(format, args...) // keeps a %w of args
	switch v.Origin {
	case "command line":
		return fmt.Errorf("-%s %q: %w", name, v.Text, err)
	case "default":
		return fmt.Errorf("%s (default %q): %w", name, v.Text, err)
	}
	return fmt.Errorf("%s: %s: %w", v.Origin, name, err)
}

// Other returns a key of the other program that the file set (and this
// program ignores): the daemon warns about a client's port it would
// refuse.
func (s *Set) Other(name string) (Value, bool) {
	v, ok := s.others[name]
	return v, ok
}
