package command

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Built-in placeholders, available in every template.
var builtins = []string{"IP", "PORT", "PROTO", "TIME", "SECONDS"}

// Errors for errors.Is.
var (
	// ErrTemplate is a template that cannot be configured.
	ErrTemplate = errors.New("bad command template")
	// ErrValue is a grant whose values cannot be put into a template.
	ErrValue = errors.New("value unfit for a command argument")
)

// shellOperators are refused unquoted: templates run without a shell.
const shellOperators = "|&;<>()$`"

// Template is a command line split into arguments, with placeholders.
type Template struct {
	Name  string // what the configuration calls it, for messages
	Text  string
	words [][]piece
}

// piece is literal text or a placeholder.
type piece struct {
	lit, name string
}

// Parse splits text into arguments and finds its placeholders. Names are
// the builtins and fields (knock field names, in any case).
func Parse(name, text string, fields []string) (*Template, error) {
	t := &Template{Name: name, Text: text}
	fail := func(problem string, args ...any) error {
		return fmt.Errorf("%s command template %q: %s: %w", name, text, fmt.Sprintf(problem, args...), ErrTemplate)
	}
	words, err := split(text)
	if err != nil {
		return nil, fail("%v", err)
	}
	if len(words) == 0 {
		return nil, fail("empty")
	}
	known := map[string]bool{}
	for _, n := range builtins {
		known[n] = true
	}
	for _, f := range fields {
		known[strings.ToUpper(f)] = true
	}
	for i, w := range words {
		pieces, err := placeholders(w, known)
		if err != nil {
			return nil, fail("%v", err)
		}
		if i == 0 && (len(pieces) != 1 || pieces[0].name != "") {
			return nil, fail("the program %q cannot contain a placeholder", w)
		}
		t.words = append(t.words, pieces)
	}
	return t, nil
}

// split divides text into words as a shell would, without expanding
// anything.
func split(text string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == 0:
			return nil, fmt.Errorf("NUL byte at offset %d", i)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			end := strings.IndexByte(text[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' quote at offset %d", i)
			}
			w.WriteString(text[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			end, err := doubleQuoted(text, i, &w)
			if err != nil {
				return nil, err
			}
			i = end
			inWord = true
		case c == '\\':
			if i+1 == len(text) {
				return nil, fmt.Errorf("backslash at the end")
			}
			i++
			if text[i] != '\n' { // backslash-newline continues the line
				w.WriteByte(text[i])
				inWord = true
			}
		case strings.IndexByte(shellOperators, c) >= 0:
			return nil, fmt.Errorf("unquoted %q at offset %d: commands run without a shell; quote it to pass it literally", c, i)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// doubleQuoted copies the "..." starting at text[start] into w and returns
// the offset of its closing quote. Backslash escapes only " and \.
func doubleQuoted(text string, start int, w *strings.Builder) (int, error) {
	for i := start + 1; i < len(text); i++ {
		switch c := text[i]; {
		case c == '"':
			return i, nil
		case c == 0:
			return 0, fmt.Errorf("NUL byte at offset %d", i)
		case c == '\\' && i+1 < len(text) && (text[i+1] == '"' || text[i+1] == '\\'):
			i++
			w.WriteByte(text[i])
		default:
			w.WriteByte(c)
		}
	}
	return 0, fmt.Errorf("unterminated \" quote at offset %d", start)
}

// placeholders splits one word into literal text and known placeholders.
func placeholders(word string, known map[string]bool) ([]piece, error) {
	var out []piece
	var lit strings.Builder
	for i := 0; i < len(word); {
		pct := strings.IndexByte(word[i:], '%')
		if pct < 0 {
			lit.WriteString(word[i:])
			break
		}
		lit.WriteString(word[i : i+pct])
		i += pct
		if strings.HasPrefix(word[i:], "%%") {
			lit.WriteByte('%')
			i += 2
			continue
		}
		end := strings.IndexByte(word[i+1:], '%')
		if end < 0 || !isName(word[i+1:i+1+end]) {
			return nil, fmt.Errorf("stray %% in %q: placeholders are %%NAME%%, and %%%% is a literal %%", word)
		}
		name := word[i+1 : i+1+end]
		if up := strings.ToUpper(name); up != name {
			return nil, fmt.Errorf("placeholder %%%s%% must be upper case: %%%s%%", name, up)
		}
		if !known[name] {
			return nil, fmt.Errorf("unknown placeholder %%%s%% (known: %s)", name, knownList(known))
		}
		if lit.Len() > 0 {
			out = append(out, piece{lit: lit.String()})
			lit.Reset()
		}
		out = append(out, piece{name: name})
		i += end + 2
	}
	if lit.Len() > 0 || len(out) == 0 {
		out = append(out, piece{lit: lit.String()})
	}
	return out, nil
}

func isName(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetter(s[i]) && !(s[i] >= '0' && s[i] <= '9') && s[i] != '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func knownList(known map[string]bool) string {
	names := slices.Sorted(maps.Keys(known))
	for i, n := range names {
		names[i] = "%" + n + "%"
	}
	return strings.Join(names, " ")
}

// Placeholders lists the placeholder names the template uses, in order of
// appearance, each once.
func (t *Template) Placeholders() []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range t.words {
		for _, p := range w {
			if p.name != "" && !seen[p.name] {
				seen[p.name] = true
				out = append(out, p.name)
			}
		}
	}
	return out
}

// Expand fills the placeholders with values, one argument per word.
func (t *Template) Expand(values map[string]string) ([]string, error) {
	argv := make([]string, 0, len(t.words))
	for _, w := range t.words {
		var arg strings.Builder
		for i, p := range w {
			if p.name == "" {
				arg.WriteString(p.lit)
				continue
			}
			v, ok := values[p.name]
			switch {
			case !ok:
				return nil, fmt.Errorf("%s command: no value for %%%s%%: %w", t.Name, p.name, ErrValue)
			case strings.IndexByte(v, 0) >= 0:
				return nil, fmt.Errorf("%s command: %%%s%% = %q holds a NUL byte: %w", t.Name, p.name, v, ErrValue)
			case i == 0 && strings.HasPrefix(v, "-"):
				return nil, fmt.Errorf("%s command: %%%s%% = %q would begin an argument with '-': %w", t.Name, p.name, v, ErrValue)
			}
			arg.WriteString(v)
		}
		argv = append(argv, arg.String())
	}
	return argv, nil
}
