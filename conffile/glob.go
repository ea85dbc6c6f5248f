package conffile

import (
	"errors"
	"sort"
	"strings"
)

// This file is a port of Perl's bsd_glob (ext/File-Glob/bsd_glob.c) with
// the flags Config::General passes, GLOB_BRACE | GLOB_QUOTE: braces
// expand, a backslash quotes the next character, "[!...]" negates a
// class, a leading dot must be matched literally, and each expansion's
// matches are sorted bytewise. Quirks are kept, such as an unbalanced
// brace globbing only the text before it.

type globFS interface {
	readDir(dir string) ([]string, error) // dir "" is the current directory
	exists(name string) bool              // lstat succeeds
}

// Pattern characters: a byte, possibly with one of these bits set.
const (
	gProtect = 0x4000 // quoted with a backslash
	gMeta    = 0x8000 // a compiled meta character
	gAll     = gMeta | '*'
	gEnd     = gMeta | ']'
	gNot     = gMeta | '!'
	gOne     = gMeta | '?'
	gRng     = gMeta | '-'
	gSet     = gMeta | '['
)

type globber struct {
	fs    globFS
	paths []string
	steps *int // directory reads left, to bound the work
}

// maxGlobSteps bounds the work of all glob patterns in one parse: the
// brace expansions and directory reads.
const maxGlobSteps = 10000

// maxPathLen is MAXPATHLEN (PATH_MAX) on Linux.
const maxPathLen = 4096

var errGlobSteps = errors.New("glob patterns expand to too many patterns or read too many directories")

// bsdGlob returns the names matching pattern. steps is the number of
// directory reads left; when it runs out, bsdGlob fails.
func bsdGlob(fsys globFS, pattern string, steps *int) ([]string, error) {
	if i := strings.IndexByte(pattern, 0); i >= 0 {
		pattern = pattern[:i] // a C string ends at NUL
	}
	var pat []uint16
	for i := 0; i < len(pattern); i++ {
		c := uint16(pattern[i])
		if c == '\\' {
			if i+1 < len(pattern) {
				i++
				c = uint16(pattern[i])
			}
			pat = append(pat, c|gProtect)
		} else {
			pat = append(pat, c)
		}
	}
	if len(pat) > maxPathLen-1 {
		pat = pat[:maxPathLen-1] // bsd_glob copies at most MAXPATHLEN-1
	}
	g := &globber{fs: fsys, steps: steps}
	g.exp1(pat)
	if *steps < 0 {
		return nil, errGlobSteps
	}
	return g.paths, nil
}

func at(p []uint16, i int) uint16 {
	if i < len(p) {
		return p[i]
	}
	return 0
}

// exp1 is globexp1: expand the first brace, or glob the pattern.
func (g *globber) exp1(p []uint16) {
	*g.steps--
	if *g.steps < 0 {
		return
	}
	if len(p) == 2 && p[0] == '{' && p[1] == '}' {
		g.glob0(p)
		return
	}
	for i, c := range p {
		if c == '{' {
			g.exp2(p, i)
			return
		}
	}
	g.glob0(p)
}

// exp2 is globexp2: expand the brace at p[ptr].
func (g *globber) exp2(p []uint16, ptr int) {
	prefix := p[:ptr:ptr]
	// Find the balanced brace.
	depth, pe := 0, ptr+1
	for ; pe < len(p); pe++ {
		switch p[pe] {
		case '[':
			pm := pe
			for pe++; pe < len(p) && p[pe] != ']'; pe++ {
			}
			if pe == len(p) {
				pe = pm
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				goto found
			}
			depth--
		}
	}
found:
	if depth != 0 || pe >= len(p) {
		g.glob0(prefix) // sic: bsd_glob globs the text before the brace
		return
	}
	depth = 0
	pl := ptr + 1
	for pm := ptr + 1; pm <= pe; pm++ {
		switch p[pm] {
		case '[':
			pm1 := pm
			for pm++; pm < len(p) && p[pm] != ']'; pm++ {
			}
			if pm == len(p) {
				pm = pm1
			}
		case '{':
			depth++
		case '}', ',':
			if p[pm] == '}' && depth > 0 {
				depth--
				break
			}
			if depth > 0 && p[pm] == ',' {
				break
			}
			alt := append(append(append([]uint16(nil), prefix...), p[pl:pm]...), p[pe+1:]...)
			g.exp1(alt)
			pl = pm + 1
		}
	}
}

// glob0 compiles a brace-free pattern, matches it and sorts the matches.
func (g *globber) glob0(p []uint16) {
	var buf []uint16
	for q := 0; q < len(p); {
		c := p[q]
		q++
		switch c {
		case '[':
			c = at(p, q)
			if c == '!' {
				q++
			}
			if at(p, q) == 0 || !hasRBracket(p, q+1) {
				buf = append(buf, '[')
				if c == '!' {
					q--
				}
				break
			}
			buf = append(buf, gSet)
			if c == '!' {
				buf = append(buf, gNot)
			}
			c = p[q]
			q++
			for {
				buf = append(buf, c&0xff)
				if at(p, q) == '-' && at(p, q+1) != ']' {
					buf = append(buf, gRng, at(p, q+1)&0xff)
					q += 2
				}
				c = at(p, q)
				q++
				if c == ']' || q > len(p) {
					break
				}
			}
			buf = append(buf, gEnd)
		case '?':
			buf = append(buf, gOne)
		case '*':
			if len(buf) == 0 || buf[len(buf)-1] != gAll {
				buf = append(buf, gAll)
			}
		default:
			buf = append(buf, c&0xff)
		}
	}
	if len(buf) == 0 {
		return
	}
	start := len(g.paths)
	g.glob2("", buf)
	sort.Strings(g.paths[start:])
}

func hasRBracket(p []uint16, from int) bool {
	for i := from; i < len(p); i++ {
		if p[i] == ']' {
			return true
		}
	}
	return false
}

// glob2 copies pattern segments without meta characters onto path and
// hands the first segment with one to glob3.
func (g *globber) glob2(path string, pat []uint16) {
	for {
		if len(pat) == 0 {
			if g.fs.exists(path) {
				g.paths = append(g.paths, path)
			}
			return
		}
		end, meta := 0, false
		for end < len(pat) && pat[end] != '/' {
			if pat[end]&gMeta != 0 {
				meta = true
			}
			end++
		}
		if meta {
			g.glob3(path, pat[:end], pat[end:])
			return
		}
		var b strings.Builder
		b.WriteString(path)
		for _, c := range pat[:end] {
			b.WriteByte(byte(c))
		}
		pat = pat[end:]
		for len(pat) > 0 && pat[0] == '/' {
			b.WriteByte('/')
			pat = pat[1:]
		}
		path = b.String()
	}
}

// glob3 matches the entries of directory path against one segment.
func (g *globber) glob3(path string, seg, rest []uint16) {
	*g.steps--
	if *g.steps < 0 {
		return
	}
	names, err := g.fs.readDir(path)
	if err != nil {
		return
	}
	for _, name := range names {
		if name == "" || (name[0] == '.' && seg[0] != '.') {
			continue
		}
		if globMatch(name, seg) {
			g.glob2(path+name, rest)
		}
	}
}

// globMatch is bsd_glob's match(): '*' with one backtracking point.
func globMatch(name string, pat []uint16) bool {
	n, p := 0, 0
	nextn, nextp := -1, -1
	for {
		ok := true
	loop:
		for p < len(pat) {
			c := pat[p]
			p++
			switch c {
			case gAll:
				if p == len(pat) {
					return true
				}
				if n == len(name) {
					return false
				}
				nextn, nextp = n+1, p-1
			case gOne:
				if n == len(name) {
					return false
				}
				n++
			case gSet:
				if n == len(name) {
					return false
				}
				k := uint16(name[n])
				n++
				negate := at(pat, p) == gNot
				if negate {
					p++
				}
				in := false
				for p < len(pat) {
					c = pat[p]
					p++
					if c == gEnd {
						break
					}
					if at(pat, p) == gRng {
						if c <= k && k <= at(pat, p+1) {
							in = true
						}
						p += 2
					} else if c == k {
						in = true
					}
				}
				if in == negate {
					ok = false
					break loop
				}
			default:
				if n == len(name) || uint16(name[n]) != c {
					ok = false
					break loop
				}
				n++
			}
		}
		if ok && n == len(name) {
			return true
		}
		if nextn < 0 {
			return false
		}
		p, n = nextp, nextn
	}
}
