package main

import (
	"fmt"
	"strings"
)

// renderMan turns knockclient.1 into the plain text -man prints, so the
// manual is written once and the two cannot drift. It knows the requests
// the page uses (TH SH PP TP TQ RS RE nf fi B I BI BR IR RB) and the
// escapes \f, \-, \e, \&; any other request is an error, which the tests
// catch before a user would. man(1) renders the file itself where it is
// installed.
func renderMan(src string) (string, error) {
	w := &manWriter{width: 78, indent: bodyIndent}
	for i, line := range strings.Split(strings.TrimSuffix(src, "\n"), "\n") {
		if err := w.line(line); err != nil {
			return "", fmt.Errorf("knockclient.1:%d: %w", i+1, err)
		}
	}
	w.flush()
	return strings.TrimLeft(w.out.String(), "\n"), nil
}

const (
	bodyIndent = 7
	textIndent = 14
)

type manWriter struct {
	out    strings.Builder
	words  []string
	indent int
	extra  int  // from RS
	nofill bool // between nf and fi
	tag    bool // the next text line is a TP tag
	width  int
}

func (w *manWriter) line(line string) error {
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
	case "PP":
		w.paragraph(bodyIndent)
	case "TP":
		w.paragraph(textIndent)
		w.tag = true
	case "TQ":
		w.tag = true
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
	case "B", "I":
		w.text(unescape(strings.Join(splitArgs(arg), " ")))
	case "BI", "BR", "IR", "RB":
		w.text(unescape(strings.Join(splitArgs(arg), "")))
	default:
		return fmt.Errorf("request .%s is not known to the -man renderer", req)
	}
	return nil
}

func (w *manWriter) paragraph(indent int) {
	w.flush()
	w.out.WriteString("\n")
	w.indent = indent
}

func (w *manWriter) text(s string) {
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
func (w *manWriter) flush() {
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

var escapes = strings.NewReplacer(`\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "", `\-`, "-", `\e`, `\`, `\&`, "", `\(em`, "—")

func unescape(s string) string { return escapes.Replace(s) }
