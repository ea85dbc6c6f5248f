// Package manpage turns the project's man pages into the plain text that
// `-man` prints, so that each manual is written once, as a troff file that
// man(1) shows where it is installed, and the two cannot drift.
//
// It knows the requests the pages use (TH SH SS PP LP P TP TQ IP RS RE nf
// fi br sp B I BI IB BR RB IR RI, and .\" comments) and the escapes \f,
// \-, \e, \&, \(em; any other request is an error, which the commands'
// tests catch before a user would.
package manpage

import (
	"fmt"
	"strings"
)

// Render returns the page named name (for error messages) as text.
func Render(name, src string) (string, error) {
	w := &writer{width: 78, indent: bodyIndent}
	for i, line := range strings.Split(strings.TrimSuffix(src, "\n"), "\n") {
		if err := w.line(line); err != nil {
			return "", fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
	}
	w.flush()
	return strings.TrimLeft(w.out.String(), "\n"), nil
}

const (
	bodyIndent = 7
	textIndent = 14
)

type writer struct {
	out    strings.Builder
	words  []string
	indent int
	extra  int  // from RS
	nofill bool // between nf and fi
	tag    bool // the next text line is a TP tag
	width  int
}

func (w *writer) line(line string) error {
	if strings.HasPrefix(line, `.\"`) || strings.HasPrefix(line, `'\"`) {
		return nil
	}
	if !strings.HasPrefix(line, ".") {
		w.text(unescape(line))
		return nil
	}
	req, arg, _ := strings.Cut(line[1:], " ")
	switch req {
	case "TH":
		f := splitArgs(arg)
		if len(f) < 2 {
			return fmt.Errorf(".TH needs a name and a section")
		}
		w.out.WriteString(f[0] + "(" + f[1] + ")\n")
	case "SH":
		w.flush()
		w.out.WriteString("\n" + unescape(strings.Join(splitArgs(arg), " ")) + "\n")
		w.indent, w.extra = bodyIndent, 0
	case "SS":
		w.flush()
		w.out.WriteString("\n   " + unescape(strings.Join(splitArgs(arg), " ")) + "\n")
		w.indent = bodyIndent
	case "PP", "LP", "P":
		w.paragraph(bodyIndent)
	case "TP":
		w.paragraph(textIndent)
		w.tag = true
	case "TQ":
		w.tag = true
	case "IP":
		w.paragraph(textIndent)
		if a := splitArgs(arg); len(a) > 0 {
			w.tag = true
			w.text(unescape(a[0]))
		}
	case "RS":
		w.flush()
		w.extra += 4
	case "RE":
		w.flush()
		w.extra = max(0, w.extra-4)
	case "nf":
		w.flush()
		w.nofill = true
	case "fi":
		w.nofill = false
	case "br":
		w.flush()
	case "sp":
		w.flush()
		w.out.WriteString("\n")
	case "B", "I":
		w.text(unescape(joinWords(splitArgs(arg))))
	case "BI", "IB", "BR", "RB", "IR", "RI":
		w.text(unescape(strings.Join(splitArgs(arg), "")))
	default:
		return fmt.Errorf("request .%s is not known to the -man renderer", req)
	}
	return nil
}

func (w *writer) paragraph(indent int) {
	w.flush()
	w.out.WriteString("\n")
	w.indent = indent
}

func (w *writer) text(s string) {
	switch {
	case w.tag:
		w.tag = false
		w.out.WriteString(strings.Repeat(" ", bodyIndent+w.extra) + s + "\n")
	case w.nofill:
		pad := strings.Repeat(" ", w.indent+w.extra)
		if s == "" {
			pad = ""
		}
		w.out.WriteString(pad + s + "\n")
	case strings.TrimSpace(s) == "":
		w.flush()
		w.out.WriteString("\n")
	default:
		w.words = append(w.words, strings.Fields(s)...)
	}
}

// flush writes the running paragraph, filled to the width.
func (w *writer) flush() {
	pad := strings.Repeat(" ", w.indent+w.extra)
	line := ""
	for _, word := range w.words {
		if line != "" && len(pad)+len(line)+1+len(word) > w.width {
			w.out.WriteString(pad + line + "\n")
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		w.out.WriteString(pad + line + "\n")
	}
	w.words = w.words[:0]
}

// splitArgs splits a request's arguments at spaces outside double quotes.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, started := false, false
	for _, c := range s {
		switch {
		case c == '"':
			quoted, started = !quoted, true
		case c == ' ' && !quoted:
			if started || cur.Len() > 0 {
				out = append(out, cur.String())
			}
			cur.Reset()
			started = false
		default:
			cur.WriteRune(c)
		}
	}
	if started || cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// joinWords joins a .B or .I request's arguments with spaces, as troff
// does, except before an argument that opens with punctuation: the pages
// list names as `.B a ", " b`, meant as "a, b", not "a ,  b".
func joinWords(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 && !strings.HasSuffix(b.String(), " ") && !strings.ContainsAny(a[:min(1, len(a))], ",.;:)") {
			b.WriteByte(' ')
		}
		b.WriteString(a)
	}
	return b.String()
}

var escapes = strings.NewReplacer(`\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "", `\-`, "-", `\e`, `\`, `\&`, "", `\(em`, "—")

func unescape(s string) string { return escapes.Replace(s) }
