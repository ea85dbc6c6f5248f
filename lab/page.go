package lab

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/portknock/knock/cbc"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"hex":  func(b int) string { return fmt.Sprintf("%02x", b) },
	"bits": func(b int) string { return fmt.Sprintf("%08b", b) },
	"char": printable,
}).ParseFS(templateFiles, "templates/*.html"))

func printable(b int) string {
	if b >= 0x21 && b <= 0x7e {
		return string(rune(b))
	}
	return ""
}

func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err)
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// pageData is what the page template renders.
type pageData struct {
	Form           Form
	Errors         Errors
	Result         *Result
	Ciphers        []string
	Services       []service
	Modes          []string
	Sample         string // the sample values as JSON, for the script
	SampleSequence string
	MaxPorts       int
}

// Err is the error shown next to a field.
func (d pageData) Err(field string) string { return d.Errors[field] }

// IVChecked reports whether the IV box is ticked.
func (d pageData) IVChecked() bool { on, _ := parseSwitch(d.Form.IV); return on }

func newPageData(f Form, errs Errors, r *Result) pageData {
	sampleJSON, _ := json.Marshal(sample)
	return pageData{
		Form: f, Errors: errs, Result: r,
		Ciphers: cbc.Names(), Services: services, Modes: modeNames(),
		Sample: string(sampleJSON), SampleSequence: SampleSequence, MaxPorts: MaxPorts,
	}
}

// page serves the empty form, with the cipher the prototype's pages used.
func (l *Lab) page(w http.ResponseWriter, r *http.Request) {
	l.render(w, http.StatusOK, "page.html", newPageData(Form{Mode: defaultMode, Cipher: "Blowfish"}, nil, nil))
}

// post is the page without JavaScript: the button pressed is the action,
// and the answer is the whole page again.
func (l *Lab) post(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		status, errs := bodyError(err)
		l.render(w, status, "page.html", newPageData(Form{Mode: defaultMode}, errs, nil))
		return
	}
	f := formFromValues(r.PostForm)
	var res *Result
	var errs Errors
	switch action := r.PostForm.Get("action"); action {
	case "sample":
		f = sample
		res, errs = l.run("encode", f)
	case "clear":
		f.clearValues()
	case "encode", "decode":
		res, errs = l.run(action, f)
	default:
		errs = Errors{"form": fmt.Sprintf("unknown action %q: press encrypt or decrypt", action)}
	}
	if res != nil && errs == nil {
		f.set(res.Fields)
		f.Sequence = res.Sequence
	}
	status := http.StatusOK
	if errs != nil {
		status = http.StatusBadRequest
	}
	l.render(w, status, "page.html", newPageData(f, errs, res))
}

// bodyError explains a request body that could not be read.
func bodyError(err error) (int, Errors) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, Errors{"body": fmt.Sprintf("the request is over %d bytes, more than any knock needs", MaxBody)}
	}
	return http.StatusBadRequest, Errors{"body": "the request could not be read: " + err.Error()}
}

// render executes a template into a buffer first, so that a template error
// is a clean 500, not half a page.
func (l *Lab) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		l.log.Error("rendering a page", "template", name, "err", err)
		http.Error(w, "the lab could not render this page: a bug, please report it", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// AdvancedOpen reports whether the advanced fields are shown open: when
// one is filled in or has an error.
func (d pageData) AdvancedOpen() bool {
	for _, k := range []string{"span", "format", "flags", "rand", "ivvalue"} {
		if *d.Form.field(k) != "" || d.Errors[k] != "" {
			return true
		}
	}
	return false
}
