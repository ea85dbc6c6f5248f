package conffile

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Pos is a place in a configuration file: the file's name as it was given
// (or as an include resolved it) and a 1-based line number. Line is 0 when
// the position stands for the whole file.
type Pos struct {
	File string
	Line int
}

// String returns "file:line", or just "file" when Line is 0.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Item is one entry of a block, in file order: either a plain value
// ("key value", "key = value", a here-document) or a nested block.
type Item struct {
	// Key is the lower-cased option name, or for a block its lower-cased
	// block name (the same as Block.Name).
	Key string
	// Value is the option's value: quotes stripped, escapes resolved.
	// It is empty for a block.
	Value string
	// Bare reports a key written alone, with no value at all ("key").
	// Config::General stores undef for it; Map gives nil.
	Bare bool
	// Block is the nested block, nil for a plain value.
	Block *Block
	// Pos is where the item starts (for a continued line or a
	// here-document, its first line).
	Pos Pos
}

// Block is a block of items: the root of a file, or a <name> or
// <name label> block inside it.
type Block struct {
	// Name is the lower-cased block name; "" for the root.
	Name string
	// Label is the label of a named block (<name label>), not lower-cased.
	Label string
	// Named reports a named block. It is true even when the label is empty,
	// which Config::General produces for a tag such as "<name >".
	Named bool
	// Pos is the position of the opening tag (for the root, the file with
	// line 0).
	Pos Pos
	// Items are the block's entries in file order; included files are
	// spliced in where their <<include>> stood.
	Items []Item
}

// Values returns all plain (non-block) items for key, compared
// case-insensitively, in file order.
func (b *Block) Values(key string) []Item {
	var out []Item
	for _, it := range b.Items {
		if it.Block == nil && keyIs(it.Key, key) {
			out = append(out, it)
		}
	}
	return out
}

// Blocks returns all nested blocks called name (named or not), compared
// case-insensitively, in file order.
func (b *Block) Blocks(name string) []*Block {
	var out []*Block
	for _, it := range b.Items {
		if it.Block != nil && keyIs(it.Block.Name, name) {
			out = append(out, it.Block)
		}
	}
	return out
}

func keyIs(stored, asked string) bool {
	return stored == asked || stored == lowerASCII(asked) || stored == strings.ToLower(asked)
}

// Map returns the block the way Config::General's getall() returns it:
// a key seen once maps to its value (a string, or nil for a bare key); a
// key seen more than once maps to a []any of its values in order; a block
// maps to a map[string]any; a named block <name label> maps name to a map
// of label to the block's map. Repeated blocks become []any as well, and
// plain values and blocks of the same name mix in one []any, just as
// Config::General mixes them.
//
// A tree returned by Parse or ParseFile always converts; in a tree changed
// by hand, an entry Config::General would reject is left out.
func (b *Block) Map() map[string]any {
	m, _ := buildMap(b, false)
	return m
}

// Error is a syntax error, an include that cannot be read, or a limit
// that was exceeded.
type Error struct {
	Pos Pos
	Msg string
	Err error // the underlying error, if any (for example from opening an include)
}

// Error returns "file:line: msg" followed by ": " and the underlying error,
// if there is one.
func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Default limits; see WithMaxIncludeDepth, WithMaxFileSize, WithMaxNesting.
const (
	DefaultMaxIncludeDepth = 10
	DefaultMaxFileSize     = 1 << 20
	DefaultMaxNesting      = 100
)

// An Option changes how Parse and ParseFile work.
type Option func(*options)

type options struct {
	src        source // where includes come from; nil: includes are an error
	maxDepth   int
	maxSize    int64
	maxNesting int
}

// WithFS makes includes read from fsys. File names are slash-separated
// paths inside fsys: the name given to Parse is one, an include is resolved
// relative to the directory of the including file, and an absolute include
// name is taken relative to the root of fsys. Glob patterns are expanded
// with fs.ReadDir.
func WithFS(fsys fs.FS) Option {
	return func(o *options) { o.src = fsSource{fsys} }
}

// WithIncludeFunc makes includes read by read, which gets the include's
// path joined to the directory of the including file (slash-separated;
// an absolute include name is passed as it is) and returns the contents.
// A missing file should be reported with an error wrapping fs.ErrNotExist.
// Glob patterns cannot be expanded this way: an include whose name has a
// glob character (* ? [ { \) is an error.
func WithIncludeFunc(read func(name string) ([]byte, error)) Option {
	return func(o *options) { o.src = funcSource{read} }
}

// WithMaxIncludeDepth sets how deeply includes may nest (default
// DefaultMaxIncludeDepth); a file included from the top-level file is at
// depth 1.
func WithMaxIncludeDepth(n int) Option {
	return func(o *options) { o.maxDepth = n }
}

// WithMaxFileSize sets the largest file, top-level or included, that is
// read (default DefaultMaxFileSize bytes).
func WithMaxFileSize(n int64) Option {
	return func(o *options) { o.maxSize = n }
}

// WithMaxNesting sets how deeply blocks may nest (default
// DefaultMaxNesting).
func WithMaxNesting(n int) Option {
	return func(o *options) { o.maxNesting = n }
}

func newOptions(src source, opts []Option) *options {
	o := &options{
		src:        src,
		maxDepth:   DefaultMaxIncludeDepth,
		maxSize:    DefaultMaxFileSize,
		maxNesting: DefaultMaxNesting,
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// ParseFile reads and parses the configuration file at path. The file and
// its includes are read from the operating system's file system, or from
// the source WithFS or WithIncludeFunc gives.
func ParseFile(path string, opts ...Option) (*Block, error) {
	o := newOptions(osSource{}, opts)
	data, err := readLimited(o.src, path, o.maxSize)
	if err != nil {
		return nil, fileError(path, err)
	}
	p := newParser(o)
	if _, ok := o.src.(osSource); ok && strings.HasPrefix(path, "/") {
		// Config::General's -ConfigPath, set from an absolute file name.
		dir, _ := splitPath(path)
		dir = strings.TrimSuffix(dir, "/")
		p.configPath = &dir
	}
	return p.parse(path, data)
}

// Parse parses src as the contents of a configuration file called name;
// name appears in positions and is where relative includes start from.
// Includes are an error unless WithFS or WithIncludeFunc says where to read
// them from.
func Parse(name string, src []byte, opts ...Option) (*Block, error) {
	o := newOptions(nil, opts)
	if int64(len(src)) > o.maxSize {
		return nil, errorf(Pos{File: name}, "file is larger than %d bytes", o.maxSize)
	}
	return newParser(o).parse(name, src)
}

func fileError(path string, err error) error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Pos: Pos{File: path}, Msg: "cannot read file", Err: err}
}
