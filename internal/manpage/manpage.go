// Package manpage turns the troff subset of the project's man pages into
// plain text, so that `-man` prints the same manual `man` shows: the .1
// files are the single source, embedded in the commands.
//
// Supported: .TH .SH .SS .PP .LP .P .TP .IP .RS .RE .nf .fi .br .sp,
// the font macros .B .I .BR .RB .IR .RI .BI .IB, comments (.\"), and the
// escapes \fB \fI \fR \fP \- \e \(em \& and "\ ".
package manpage

import (
	"strings"
)

// Render returns the page as plain text, wrapped at width columns.
func Render(src string, width int) string {
	r := renderer{width: width, indent: 7}
	for _, line := range strings.Split(src, "\n") {
		r.line(line)
	}
	r.flush()
	return strings.TrimRight(r.out.String(), "\n") + "\n"
}

type renderer struct {
	out     strings.Builder
	width   int
	indent  int // current body indent
	extra   int // .RS nesting
	para    []string
	tag     string // pending .TP/.IP tag
	tagNext bool   // .TP: the next line is the tag
	nofill  bool
}

func (r *renderer) line(l string) {
	if strings.HasPrefix(l, `.\"`) || strings.HasPrefix(l, `'\"`) {
		return
	}
	if r.tagNext && !strings.HasPrefix(l, ".") {
		r.tagNext = false
		r.tag = text(l)
		return
	}
	if !strings.HasPrefix(l, ".") {
		if r.nofill {
			r.out.WriteString(strings.Repeat(" ", r.indent+r.extra) + text(l) + "\n")
			return
		}
		r.para = append(r.para, text(l))
		return
	}
	name, args := splitMacro(l)
	switch name {
	case "TH":
		title := strings.Trim(firstWord(args), `"`)
		r.out.WriteString(title + "\n\n")
	case "SH":
		r.flush()
		r.out.WriteString(strings.ToUpper(unquote(args)) + "\n")
		r.extra = 0
	case "SS":
		r.flush()
		r.out.WriteString("   " + unquote(args) + "\n")
	case "PP", "LP", "P":
		r.flush()
	case "TP":
		r.flush()
		r.tagNext = true
	case "IP":
		r.flush()
		r.tag = unquote(firstArg(args))
	case "RS":
		r.flush()
		r.extra += 4
	case "RE":
		r.flush()
		if r.extra >= 4 {
			r.extra -= 4
		}
	case "nf":
		r.flush()
		r.nofill = true
	case "fi":
		if r.nofill {
			r.out.WriteString("\n")
		}
		r.nofill = false
	case "br", "sp":
		r.flush()
	case "B", "I":
		r.add(text(unquote(args)))
	case "BR", "RB", "IR", "RI", "BI", "IB":
		r.add(strings.Join(macroArgs(args), ""))
	}
	if r.tagNext && name != "TP" {
		r.tagNext = false
	}
}

func (r *renderer) add(s string) {
	if r.tagNext {
		r.tagNext = false
		r.tag = s
		return
	}
	if r.nofill {
		r.out.WriteString(strings.Repeat(" ", r.indent+r.extra) + s + "\n")
		return
	}
	r.para = append(r.para, s)
}

// flush writes the pending paragraph, wrapped, under its tag if any.
func (r *renderer) flush() {
	if len(r.para) == 0 && r.tag == "" {
		return
	}
	ind := r.indent + r.extra
	if r.tag != "" {
		r.out.WriteString(strings.Repeat(" ", ind) + r.tag + "\n")
		ind += 4
		r.tag = ""
	}
	words := strings.Fields(strings.Join(r.para, " "))
	r.para = nil
	col := 0
	for _, w := range words {
		if col > 0 && col+1+len(w) > r.width {
			r.out.WriteString("\n")
			col = 0
		}
		if col == 0 {
			r.out.WriteString(strings.Repeat(" ", ind))
			col = ind
		} else {
			r.out.WriteString(" ")
			col++
		}
		r.out.WriteString(w)
		col += len(w)
	}
	if col > 0 {
		r.out.WriteString("\n")
	}
	r.out.WriteString("\n")
}

func splitMacro(l string) (string, string) {
	l = strings.TrimPrefix(l, ".")
	name, args, _ := strings.Cut(l, " ")
	return name, strings.TrimSpace(args)
}

// macroArgs splits macro arguments, honouring double quotes.
func macroArgs(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, text(cur.String()))
				cur.Reset()
			}
		default:
			cur.WriteRune(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, text(cur.String()))
	}
	return out
}

func firstArg(s string) string {
	a := macroArgs(s)
	if len(a) == 0 {
		return ""
	}
	return a[0]
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

func unquote(s string) string {
	return text(strings.Join(macroArgs(s), " "))
}

var escapes = strings.NewReplacer(
	`\fB`, "", `\fI`, "", `\fR`, "", `\fP`, "", `\f(CW`, "",
	`\-`, "-", `\(em`, "--", `\(en`, "-", `\&`, "", `\ `, " ", `\e`, `\`, `\(bu`, "*",
)

func text(s string) string { return escapes.Replace(s) }
