package main

import (
	"fmt"
	"strings"
)

// renderMan turns knocklab.1 into plain text for -man, so that the manual
// is written once. It knows the few requests that page uses (TH, SH, PP,
// TP, RS, RE, nf, fi, B, I, BI, BR, IR, RB) and the escapes \f, \-, \e,
// \&; any other request is an error, which the tests catch before a user
// would. man(1) renders the file better where it is installed.
func renderMan(src string) (string, error) {
	r := &manWriter{width: 78}
	for i, line := range strings.Split(strings.TrimSuffix(src, "\n"), "\n") {
		if err := r.line(line); err != nil {
			return "", fmt.Errorf("knocklab.1:%d: %w", i+1, err)
		}
	}
	r.flush()
	return strings.TrimLeft(r.out.String(), "\n"), nil
}

const (
	bodyIndent = 7
	tagIndent  = 7
	textIndent = 14
)

type manWriter struct {
	out     strings.Builder
	words   []string
	indent  int  // of the running text
	extra   int  // from RS
	nofill  bool // between nf and fi
	tag     bool // the next line is a TP tag
	heading bool // nothing written since the last SH
	width   int
}

func (r *manWriter) line(line string) error {
	if !strings.HasPrefix(line, ".") {
		r.text(unescape(line))
		return nil
	}
	req, arg, _ := strings.Cut(line[1:], " ")
	switch req {
	case "TH":
		f := strings.Fields(arg)
		if len(f) >= 2 {
			r.out.WriteString(f[0] + "(" + f[1] + ")\n")
		}
	case "SH":
		r.flush()
		r.out.WriteString("\n" + unescape(unquote(arg)) + "\n")
		r.indent, r.extra, r.heading = bodyIndent, 0, true
	case "PP":
		r.paragraph(bodyIndent)
	case "TP":
		r.paragraph(textIndent)
		r.tag = true
	case "RS":
		r.flush()
		r.extra += 4
	case "RE":
		r.flush()
		r.extra = max(0, r.extra-4)
	case "nf":
		r.flush()
		r.nofill = true
	case "fi":
		r.nofill = false
	case "B", "I":
		r.text(unescape(unquote(arg)))
	case "BI", "BR", "IR", "RB":
		r.text(joinAlternating(arg))
	default:
		return fmt.Errorf("request .%s: renderMan does not know it", req)
	}
	return nil
}

func (r *manWriter) paragraph(indent int) {
	r.flush()
	if !r.heading {
		r.out.WriteString("\n")
	}
	r.indent = indent
}

func (r *manWriter) text(s string) {
	r.heading = false
	pad := strings.Repeat(" ", r.indent+r.extra)
	switch {
	case r.tag:
		r.tag = false
		r.out.WriteString(strings.Repeat(" ", tagIndent+r.extra) + s + "\n")
	case r.nofill:
		if s == "" {
			pad = ""
		}
		r.out.WriteString(pad + s + "\n")
	case strings.TrimSpace(s) == "":
		r.flush()
		r.out.WriteString("\n")
	default:
		r.words = append(r.words, strings.Fields(s)...)
	}
}

// flush writes the words of the running paragraph, filled to the width.
func (r *manWriter) flush() {
	pad := strings.Repeat(" ", r.indent+r.extra)
	line := ""
	for _, w := range r.words {
		if line != "" && len(pad)+len(line)+1+len(w) > r.width {
			r.out.WriteString(pad + line + "\n")
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		r.out.WriteString(pad + line + "\n")
	}
	r.words = r.words[:0]
}

// joinAlternating renders .BI a b and its kind: the words alternate fonts
// and are written without spaces between them.
func joinAlternating(arg string) string {
	var parts []string
	for _, p := range splitArgs(arg) {
		parts = append(parts, unescape(p))
	}
	return strings.Join(parts, "")
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

func unquote(s string) string { return strings.Join(splitArgs(s), " ") }

var escapes = strings.NewReplacer(`\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "", `\-`, "-", `\e`, `\`, `\&`, "", `\(em`, "—")

func unescape(s string) string { return escapes.Replace(s) }
