package conffile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The parser works in Config::General's two passes. The first (this file,
// after _read and _open) turns each file's lines into logical lines,
// "chunks": comments go, continued lines are joined, a here-document
// becomes one chunk, an explicit empty block becomes its two tags, and an
// include is replaced by the included file's chunks. The second pass
// (parse.go, after _parse) builds the blocks from the chunks.

// heredocSep is Config::General's EOFseparator: it joins a here-document's
// key and text inside a chunk.
const heredocSep = "ad7d7b87f5b81d2a0d5cb75294afeb91aa4801b1f8e8532dc1b633c0e1d47037"

var utf8BOM = []byte("\xef\xbb\xbf")

type chunk struct {
	text  string
	pos   Pos
	uni   bool   // from a file with a byte-order mark: Unicode rules
	synth bool   // a closing tag made from an explicit empty block "<name/>"
	from  string // for synth, the line it was made from
}

type parser struct {
	o          *options
	configPath *string         // Config::General's ConfigPath, for absolute top-level files
	files      map[string]bool // files read so far; each is read once
	stack      []string        // loop keys of the files being read
	chunks     []chunk
	globs      map[string][]string // glob results so far
	globSteps  int                 // directory reads left for globs
}

func newParser(o *options) *parser {
	return &parser{o: o, files: map[string]bool{}, globs: map[string][]string{}, globSteps: maxGlobSteps}
}

// glob expands a pattern; the same pattern gives the same files within a
// parse (Config::General globs again, but the files are the same).
func (p *parser) glob(pattern string) ([]string, error) {
	if m, ok := p.globs[pattern]; ok {
		return m, nil
	}
	m, err := p.o.src.glob(pattern, &p.globSteps)
	if err != nil {
		return nil, err
	}
	p.globs[pattern] = m
	return m, nil
}

func (p *parser) parse(name string, data []byte) (*Block, error) {
	p.files[name] = true
	if p.o.src != nil {
		p.stack = []string{p.o.src.loopKey(name)}
	} else {
		p.stack = []string{name}
	}
	if err := p.read(name, data, 0); err != nil {
		return nil, err
	}
	root, err := p.build(name)
	if err != nil {
		return nil, err
	}
	if _, err := buildMap(root, true); err != nil {
		return nil, err
	}
	return root, nil
}

// Perl's \s: ASCII whitespace including \v, and for strings Perl holds as
// characters (a file with a byte-order mark) the Unicode white space too.
const (
	asciiSpace   = `\t\n\v\f\r `
	unicodeSpace = asciiSpace + `\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}`
)

// regexps are Config::General's regular expressions, with \s and \S
// spelled out for one of the two whitespace sets.
type regexps struct {
	uni         bool
	cSingle     *regexp.Regexp
	cStart      *regexp.Regexp
	cEndEOL     *regexp.Regexp
	emptyBlock  *regexp.Regexp
	here1       *regexp.Regexp
	here2       *regexp.Regexp
	inclQuoted  *regexp.Regexp
	incl        *regexp.Regexp
	sepSplit    *regexp.Regexp
	split       *regexp.Regexp
	blockStart  *regexp.Regexp
	blockEnd    *regexp.Regexp
	quotedBlock *regexp.Regexp
	namedBlock  *regexp.Regexp
}

var asciiRx, unicodeRx = newRegexps(false), newRegexps(true)

func rxFor(uni bool) *regexps {
	if uni {
		return unicodeRx
	}
	return asciiRx
}

func newRegexps(uni bool) *regexps {
	ws, s := asciiSpace, "[sS]"
	if uni {
		ws, s = unicodeSpace, "[sS\u017f]" // ſ folds to s under Unicode rules
	}
	c := func(re string) *regexp.Regexp {
		re = strings.ReplaceAll(re, `\s`, "["+ws+"]")
		re = strings.ReplaceAll(re, `\S`, "[^"+ws+"]")
		re = strings.ReplaceAll(re, "BACKSLASH_S", `\\`+s)
		return regexp.MustCompile(re)
	}
	const include = `<<[Ii][Nn][Cc][Ll][Uu][Dd][Ee]`
	return &regexps{
		uni:        uni,
		cSingle:    c(`\s*/\*.*\*/\s*`),
		cStart:     c(`^\s*/\*`),
		cEndEOL:    c(`\*/\s*$`),
		emptyBlock: c(`\s*<([^/]+?.*?)/>\s*$`),
		here1:      c(`^\s*([^=]+?)\s*=\s*<<\s*(.+?)\s*$`),
		here2:      c(`^\s*(\S+?)\s+<<\s*(.+?)\s*$`),
		// Config::General 2.65 writes ">>\\s*$" here: a literal backslash
		// and any number of "s". Kept as it is.
		inclQuoted:  c(`^\s*` + include + `\s+(["'])(.+?)>>BACKSLASH_S*$`),
		incl:        c(`^\s*` + include + `\s+(.+?)>>\s*$`),
		sepSplit:    c(`\s*` + heredocSep + `\s*`),
		split:       c(`\s*=\s*|\s+`),
		blockStart:  c(`^<([^/]+?.*?)>$`),
		blockEnd:    c(`^</(.+?)>$`),
		quotedBlock: c(`^"([^"]+)"$`),
		namedBlock:  c(`^(?:"([^"]+)"|(\S+))(?:\s+(?:"([^"]+)"|(.*)))?$`),
	}
}

func (rx *regexps) isSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ':
		return true
	}
	if !rx.uni {
		return false
	}
	switch {
	case r == 0x85, r == 0xa0, r == 0x1680, r >= 0x2000 && r <= 0x200a,
		r == 0x2028, r == 0x2029, r == 0x202f, r == 0x205f, r == 0x3000:
		return true
	}
	return false
}

func (rx *regexps) trimLeft(s string) string {
	for len(s) > 0 {
		r, n := rx.decode(s)
		if !rx.isSpace(r) {
			break
		}
		s = s[n:]
	}
	return s
}

func (rx *regexps) trimRight(s string) string {
	for len(s) > 0 {
		var r rune
		n := 1
		if rx.uni {
			r, n = utf8.DecodeLastRuneInString(s)
		} else {
			r = rune(s[len(s)-1])
		}
		if !rx.isSpace(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return s
}

func (rx *regexps) decode(s string) (rune, int) {
	if rx.uni {
		return utf8.DecodeRuneInString(s)
	}
	return rune(s[0]), 1
}

func (rx *regexps) isBlank(s string) bool { return rx.trimLeft(s) == "" }

// lower is Perl's lc: ASCII only for byte strings, Unicode for characters.
func (rx *regexps) lower(s string) string {
	if !rx.uni {
		return lowerASCII(s)
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteByte(s[0])
		case r == 0x130: // İ lower-cases to two characters
			b.WriteString("i\u0307")
		default:
			b.WriteRune(toLower(r))
		}
		s = s[n:]
	}
	return b.String()
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// perlTrue is Perl's truth for a defined string.
func perlTrue(s string) bool { return s != "" && s != "0" }

// splitLines splits like Perl's <$fh> with chomp.
func splitLines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	s := string(data)
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

// read is Config::General's _read for one file's contents: each line goes
// to the first construct that claims it, in Config::General's order.
func (p *parser) read(file string, data []byte, depth int) error {
	data, uni, err := stripBOM(file, data)
	if err != nil {
		return err
	}
	dir, _ := splitPath(file)
	r := &fileReader{p: p, dir: dir, depth: depth, uni: uni, rx: rxFor(uni)}
	for i, line := range splitLines(data) {
		if err := r.line(line, Pos{File: file, Line: i + 1}); err != nil {
			return err
		}
	}
	return r.end()
}

// stripBOM removes a UTF-8 byte-order mark, which makes the file's text
// Unicode (uni), and refuses malformed UTF-8 after one.
func stripBOM(file string, data []byte) (rest []byte, uni bool, err error) {
	if !bytes.HasPrefix(data, utf8BOM) {
		return data, false, nil
	}
	data = data[len(utf8BOM):]
	if utf8.Valid(data) {
		return data, true, nil
	}
	// Config::General's :utf8 layer lets malformed text through; what
	// follows ranges from garbage to a crash of perl.
	i := 0
	for i < len(data) {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	line := bytes.Count(data[:i], []byte("\n")) + 1
	return nil, true, errorf(Pos{File: file, Line: line}, "invalid UTF-8 in a file that starts with a UTF-8 byte-order mark")
}

// fileReader is _read's state while it reads one file: the constructs
// that span lines (a here-document, a C comment, a continued line) keep
// what they have seen here until they end.
type fileReader struct {
	p     *parser
	dir   string // of the file, for relative includes
	depth int    // include depth of the file
	uni   bool
	rx    *regexps

	hier, hierEnd string // open here-document's key and end marker
	hierEndRx     *regexp.Regexp
	hierPos       Pos
	hierDoc       []string // its lines so far

	cComment bool // inside a C comment
	cPos     Pos

	longline strings.Builder // a line continued with a trailing backslash
	longPos  Pos
}

func (r *fileReader) push(text string, pos Pos) {
	r.p.chunks = append(r.p.chunks, chunk{text: text, pos: pos, uni: r.uni})
}

// line reads one line: the first construct that claims it takes it;
// the comment steps hand on what is left of it.
func (r *fileReader) line(line string, pos Pos) error {
	if perlTrue(r.hier) {
		r.hereLine(line)
		return nil
	}
	line, skip, err := r.cComments(line, pos)
	if err != nil || skip {
		return err
	}
	line = hashComment(line)
	if r.continues(line, pos) || r.emptyBlock(line, pos) || r.hereStart(line, pos) ||
		r.continuedEnd(line) || r.rx.isBlank(line) {
		return nil
	}
	if done, err := r.includeLine(line, pos); done || err != nil {
		return err
	}
	r.push(line, pos)
	return nil
}

// hereLine takes a line inside a here-document, where only the end
// marker counts. At the marker the document becomes one chunk, its lines
// stripped of the marker's indentation if it has any.
func (r *fileReader) hereLine(line string) {
	indent, ok := hereEnd(r.rx, line, r.hierEnd, r.hierEndRx)
	if !ok {
		r.hierDoc = append(r.hierDoc, line)
		return
	}
	text := r.hier + " " + heredocSep
	if indent != "" {
		var b strings.Builder
		b.WriteString(text)
		for _, l := range r.hierDoc {
			b.WriteString(strings.TrimPrefix(l, indent))
			b.WriteByte('\n')
		}
		text = b.String()
	} else {
		text += strings.Join(r.hierDoc, "\n")
	}
	r.push(text, r.hierPos)
	r.hierDoc, r.hier, r.hierEnd, r.hierEndRx = nil, "", "", nil
}

// cComments removes a one-line C comment, or opens or closes one that
// spans lines; skip says the line is inside a comment.
func (r *fileReader) cComments(line string, pos Pos) (rest string, skip bool, err error) {
	rx := r.rx
	if strings.Contains(line, "/*") && rx.cSingle.MatchString(line) {
		loc := rx.cSingle.FindStringIndex(line)
		line = line[:loc[0]] + line[loc[1]:]
	} else if rx.cStart.MatchString(line) {
		if rx.cEndEOL.MatchString(line) {
			r.cComment = false
		} else {
			r.cComment = true
			r.cPos = pos
		}
	} else if j := strings.LastIndex(line, "*/"); j >= 0 {
		if !r.cComment {
			// Config::General warns "invalid syntax: found end of
			// C-comment without previous start" and drops the line up
			// to the "*/"; that is never what was meant.
			return "", false, errorf(pos, "%q ends a comment that was never started", "*/")
		}
		r.cComment = false
		line = line[j+2:]
	}
	return line, r.cComment, nil
}

// hashComment cuts a "#" comment, unless the "#" is escaped as "\#".
func hashComment(line string) string {
	for j := 0; j < len(line); j++ {
		if line[j] == '#' && (j == 0 || line[j-1] != '\\') {
			return line[:j]
		}
	}
	return line
}

// continues takes a line with a trailing backslash (not itself escaped),
// which the next line continues.
func (r *fileReader) continues(line string, pos Pos) bool {
	n := len(line)
	if n == 0 || line[n-1] != '\\' || (n > 1 && line[n-2] == '\\') {
		return false
	}
	if r.longline.Len() == 0 {
		r.longPos = pos
	}
	r.longline.WriteString(r.rx.trimLeft(line[:n-1]))
	return true
}

// emptyBlock takes an explicit empty block, "<name/>", which becomes
// "<name>" and "</name>".
func (r *fileReader) emptyBlock(line string, pos Pos) bool {
	if !strings.Contains(line, "/>") {
		return false
	}
	m := r.rx.emptyBlock.FindStringSubmatch(line)
	if m == nil {
		return false
	}
	block := m[1]
	orig := line
	if strings.HasSuffix(orig, "/>") {
		orig = orig[:len(orig)-2] + ">"
	}
	for j, c := range block {
		if r.rx.isSpace(c) {
			block = block[:j]
			break
		}
	}
	r.push(orig, pos)
	r.p.chunks = append(r.p.chunks, chunk{text: "</" + block + ">", pos: pos, uni: r.uni, synth: true, from: r.rx.trimRight(r.rx.trimLeft(line))})
	return true
}

// hereStart takes the start of a here-document: "key <<EOF" or
// "key = <<EOF".
func (r *fileReader) hereStart(line string, pos Pos) bool {
	if !strings.Contains(line, "<<") {
		return false
	}
	m := r.rx.here1.FindStringSubmatch(line)
	if m == nil {
		m = r.rx.here2.FindStringSubmatch(line)
	}
	if m == nil {
		return false
	}
	r.hier, r.hierEnd, r.hierPos = m[1], m[2], pos
	r.hierEndRx = hereEndRegexp(r.rx, r.hierEnd)
	return true
}

// continuedEnd takes the last line of a continued line, which makes the
// whole one chunk. (A continued line that is just "0" is false to Perl:
// the line after it stands alone, and the "0" waits.)
func (r *fileReader) continuedEnd(line string) bool {
	if r.longline.Len() == 0 || r.longline.String() == "0" {
		return false
	}
	r.longline.WriteString(r.rx.trimLeft(line))
	r.push(r.longline.String(), r.longPos)
	r.longline.Reset()
	return true
}

// includeLine takes "<<include name>>" (name possibly quoted) and reads
// the named file's chunks in its place.
func (r *fileReader) includeLine(line string, pos Pos) (bool, error) {
	if !strings.Contains(line, "<<") {
		return false, nil
	}
	var name string
	if m := r.rx.inclQuoted.FindStringSubmatch(line); m != nil {
		name = m[2]
	} else if m := r.rx.incl.FindStringSubmatch(line); m != nil {
		name = m[1]
	}
	if !perlTrue(name) {
		return false, nil
	}
	return true, r.p.include(r.dir, name, pos, r.depth)
}

// end checks at the end of the file that nothing is left open, which
// Config::General silently drops; here it is an error.
func (r *fileReader) end() error {
	switch {
	case perlTrue(r.hier):
		return errorf(r.hierPos, "here-document %q opened here is never closed (no line %q follows)", r.hier, r.hierEnd)
	case r.cComment:
		return errorf(r.cPos, "comment %q opened here is never closed", "/*")
	case r.longline.Len() > 0:
		return errorf(r.longPos, "line continued here with a trailing backslash, but the file ends")
	}
	return nil
}

// hereEnd reports whether line ends a here-document whose marker is end,
// and the indentation in front of the marker: /^(\s*)\Qend\E\s*$/. re is
// hereEndRegexp(rx, end).
func hereEnd(rx *regexps, line, end string, re *regexp.Regexp) (indent string, ok bool) {
	if re != nil {
		m := re.FindStringSubmatch(line)
		if m == nil {
			return "", false
		}
		return m[1], true
	}
	rest := rx.trimLeft(line)
	indent = line[:len(line)-len(rest)]
	after, found := strings.CutPrefix(rest, end)
	if !found || !rx.isBlank(after) {
		return "", false
	}
	return indent, true
}

// hereEndRegexp returns the regular expression hereEnd needs for a marker
// that starts with white space (which the indentation may then give back),
// or nil when the plain comparison does.
func hereEndRegexp(rx *regexps, end string) *regexp.Regexp {
	if r, _ := rx.decode(end); !rx.isSpace(r) {
		return nil
	}
	ws := asciiSpace
	if rx.uni {
		ws = unicodeSpace
	}
	return regexp.MustCompile(`^([` + ws + `]*)` + regexp.QuoteMeta(end) + `[` + ws + `]*$`)
}

// include is the include part of _read and _open: name is the file name
// as written in <<include name>>, dir the directory of the including file.
func (p *parser) include(dir, name string, pos Pos, depth int) error {
	src := p.o.src
	if src == nil {
		return &Error{Pos: pos, Msg: fmt.Sprintf("include %q", name),
			Err: errors.New("no file system to read includes from (use WithFS or WithIncludeFunc)")}
	}
	// -IncludeRelative: relative to the including file's directory.
	file := src.resolve("", name)
	if dir != "" && !strings.HasPrefix(name, "/") {
		file = src.resolve(dir, name)
	}
	return p.open(file, name, name, pos, depth, 0)
}

const maxGlobNesting = 4

// open is _open: file is the resolved name, base the name it was resolved
// from (for the ConfigPath fallback), orig the name written in the include.
func (p *parser) open(file, base, orig string, pos Pos, depth, globs int) error {
	src := p.o.src
	fail := func(err error) error {
		return &Error{Pos: pos, Msg: fmt.Sprintf("include %q", orig), Err: err}
	}

	if hasGlobMeta(file) {
		if globs >= maxGlobNesting {
			return fail(fmt.Errorf("glob matches %q, which is a glob pattern again, too often", file))
		}
		files, err := p.glob(file)
		if err != nil {
			return fail(err)
		}
		if len(files) == 0 && p.configPath != nil {
			d, _ := splitPath(base)
			if fi, err := src.stat(catFile(*p.configPath, d)); err == nil && fi != nil && fi.IsDir() {
				if files, err = p.glob(catFile(*p.configPath, base)); err != nil {
					return fail(err)
				}
			}
		}
		// No match is fine: "<<include conf.d/*.conf>>" may include
		// nothing. Each match goes through _open again, glob test and all.
		for _, f := range files {
			if err := p.open(f, f, orig, pos, depth, globs+1); err != nil {
				return err
			}
		}
		return nil
	}

	fi, err := src.stat(file)
	if err != nil && p.configPath != nil {
		alt := catFile(*p.configPath, base)
		if afi, aerr := src.stat(alt); aerr == nil {
			file, fi, err = alt, afi, nil
		}
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = &fs.PathError{Op: "open", Path: pe.Path, Err: pe.Err}
		}
		return fail(err)
	}
	if fi != nil && fi.IsDir() {
		return fail(&fs.PathError{Op: "open", Path: file, Err: errIsDir})
	}
	if p.files[file] {
		return nil // read once, like Config::General without -IncludeAgain
	}
	key := src.loopKey(file)
	for i, k := range p.stack {
		if k == key {
			chain := append(append([]string(nil), p.stack[i:]...), key)
			return fail(fmt.Errorf("include loop: %s", strings.Join(chain, " -> ")))
		}
	}
	if depth+1 > p.o.maxDepth {
		return fail(fmt.Errorf("includes nested more than %d deep", p.o.maxDepth))
	}
	data, err := readLimited(src, file, p.o.maxSize)
	if err != nil {
		return fail(err)
	}
	p.files[file] = true
	p.stack = append(p.stack, key)
	err = p.read(file, data, depth+1)
	p.stack = p.stack[:len(p.stack)-1]
	return err
}
