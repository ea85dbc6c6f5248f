package conffile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// A source is where files come from: the operating system (ParseFile),
// an fs.FS (WithFS) or a function (WithIncludeFunc).
type source interface {
	// resolve turns an include name into a file name. dir is the directory
	// part of the including file ("" or ending in "/"), or "" when the name
	// is to be taken as it is.
	resolve(dir, name string) string
	// stat reports on a file, following symbolic links. A nil FileInfo with
	// a nil error means the source cannot tell.
	stat(name string) (fs.FileInfo, error)
	open(name string) (io.ReadCloser, error)
	// glob expands a pattern the way Perl's bsd_glob(GLOB_BRACE|GLOB_QUOTE)
	// does and keeps the regular files. steps is the budget of directory
	// reads (see bsdGlob).
	glob(pattern string, steps *int) ([]string, error)
	// loopKey names a file for include-loop detection.
	loopKey(name string) string
}

var errIsDir = errors.New("is a directory")

type tooLargeError struct{ max int64 }

func (e tooLargeError) Error() string { return fmt.Sprintf("file is larger than %d bytes", e.max) }

// readLimited reads a whole file, refusing one larger than max bytes.
func readLimited(src source, name string, max int64) ([]byte, error) {
	r, err := src.open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, tooLargeError{max}
	}
	return data, nil
}

// osSource is the operating system's file system, with file names joined
// the way Config::General joins them (File::Spec's catfile), so that the
// same file gets the same name in both.
type osSource struct{}

func (osSource) resolve(dir, name string) string {
	if dir != "" && !strings.HasPrefix(name, "/") {
		return catFile(dir, name)
	}
	return name
}

func (osSource) stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

func (osSource) open(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s osSource) glob(pattern string, steps *int) ([]string, error) {
	m, err := bsdGlob(osGlobFS{}, pattern, steps)
	return regularFiles(s, m), err
}

func (osSource) loopKey(name string) string { return filepath.Clean(name) }

type osGlobFS struct{}

func (osGlobFS) readDir(dir string) ([]string, error) {
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	// readdir(3) also returns "." and "..", which bsd_glob matches
	// against patterns that start with a dot.
	names := []string{".", ".."}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}

func (osGlobFS) exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

// fsSource is an fs.FS; names are clean slash-separated paths in it.
type fsSource struct{ fsys fs.FS }

func (fsSource) resolve(dir, name string) string {
	if strings.HasPrefix(name, "/") {
		return cleanFS(name)
	}
	return cleanFS(dir + name)
}

// cleanFS turns a name into a path fs.FS accepts, if it can.
func cleanFS(name string) string {
	name = path.Clean("/" + name)[1:]
	if name == "" {
		return "."
	}
	return name
}

func (s fsSource) stat(name string) (fs.FileInfo, error) { return fs.Stat(s.fsys, name) }

func (s fsSource) open(name string) (io.ReadCloser, error) { return s.fsys.Open(name) }

func (s fsSource) glob(pattern string, steps *int) ([]string, error) {
	m, err := bsdGlob(fsGlobFS(s), pattern, steps)
	for i := range m {
		m[i] = cleanFS(m[i])
	}
	return regularFiles(s, m), err
}

func (fsSource) loopKey(name string) string { return name }

type fsGlobFS fsSource

func (s fsGlobFS) readDir(dir string) ([]string, error) {
	ents, err := fs.ReadDir(s.fsys, cleanFS(dir))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

func (s fsGlobFS) exists(name string) bool {
	_, err := fs.Stat(s.fsys, cleanFS(name))
	return err == nil
}

// funcSource reads includes through a caller's function.
type funcSource struct {
	read func(name string) ([]byte, error)
}

func (funcSource) resolve(dir, name string) string {
	if strings.HasPrefix(name, "/") {
		return name
	}
	return path.Join(dir, name)
}

func (funcSource) stat(string) (fs.FileInfo, error) { return nil, nil }

func (s funcSource) open(name string) (io.ReadCloser, error) {
	data, err := s.read(name)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(strings.NewReader(string(data))), nil
}

func (funcSource) glob(string, *int) ([]string, error) {
	return nil, errors.New("glob patterns need a file system (WithFS)")
}

func (funcSource) loopKey(name string) string { return path.Clean(name) }

// regularFiles keeps the names that are regular files (Perl's -f).
func regularFiles(src source, names []string) []string {
	var out []string
	for _, n := range names {
		if fi, err := src.stat(n); err == nil && fi.Mode().IsRegular() {
			out = append(out, n)
		}
	}
	return out
}

// hasGlobMeta reports whether Config::General (with -IncludeGlob) takes a
// file name for a glob pattern.
func hasGlobMeta(name string) bool { return strings.ContainsAny(name, `*?[{\`) }

var dotSegments = regexp.MustCompile(`(?:/\.)+(?:/|$)`)

// canonPath is File::Spec::Unix->canonpath: it collapses slashes and "."
// segments but leaves ".." alone.
func canonPath(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	p = dotSegments.ReplaceAllString(p, "/")
	if p != "./" {
		for strings.HasPrefix(p, "./") {
			p = p[2:]
		}
	}
	if strings.HasPrefix(p, "/../") {
		q := p[1:]
		for strings.HasPrefix(q, "../") {
			q = q[3:]
		}
		p = "/" + q
	}
	if p == "/.." {
		p = "/"
	}
	if p != "/" && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	return p
}

// catFile is File::Spec::Unix->catfile(dir, file).
func catFile(dir, file string) string {
	file = canonPath(file)
	d := canonPath(dir + "/")
	if !strings.HasSuffix(d, "/") {
		d += "/"
	}
	return d + file
}

// splitPath is File::Spec::Unix->splitpath: the directory part (up to and
// including the last slash, or a trailing "/." or "/..") and the rest.
func splitPath(p string) (dir, file string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	if rest := p[i+1:]; rest == "." || rest == ".." {
		return p, ""
	}
	return p[:i+1], p[i+1:]
}
