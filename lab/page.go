package lab

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/sealed"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"hex":       func(b int) string { return fmt.Sprintf("%02x", b) },
	"bits":      func(b int) string { return fmt.Sprintf("%08b", b) },
	"char":      printable,
	"modeLabel": func(m string) string { return modeLabels[m] },
	"kdfField":  kdfField,
	"prefixed":  func(p string, d pageData) prefixedData { return prefixedData{p, d} },
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

// modeLabels are what the mode selector calls the modes.
var modeLabels = map[string]string{"legacy": "legacy: the prototype's knock", "sealed": "sealed: the authenticated knock"}

// prefixedData is the page's data for a block both modes show, with the
// prefix of the block's ids in the mode it is for.
type prefixedData struct {
	P string
	D pageData
}

// kdfInput is one of the KDF's fields, for the page's kdf-field template.
type kdfInput struct{ Name, Label, Value, Default, Err string }

func kdfField(name, label string, def any, d pageData) kdfInput {
	return kdfInput{Name: name, Label: label, Value: *d.Form.field(name), Default: fmt.Sprint(def), Err: d.Errors[name]}
}

// pageData is what the page template renders.
type pageData struct {
	Form           Form
	Errors         Errors
	Result         *Result
	Ciphers        []string
	Services       []service
	Modes          []string
	Units          []string
	Sample         string // the samples by mode as JSON, for the script
	SampleSequence string
	SealedSample   Form
	MaxPorts       int
	KDF            sealed.KDF // the defaults
	MaxKDFTime     int
	MaxKDFMemory   int
	MaxKDFThreads  int
}

// Err is the error shown next to a field.
func (d pageData) Err(field string) string { return d.Errors[field] }

// Checked reports whether a checkbox is ticked.
func (d pageData) Checked(field string) bool { on, _ := parseSwitch(*d.Form.field(field)); return on }

// IVChecked reports whether the IV box is ticked.
func (d pageData) IVChecked() bool { return d.Checked("iv") }

// Mode is the mode the page shows.
func (d pageData) Mode() string {
	if m := modeName(d.Form); modes[m] != nil {
		return m
	}
	return defaultMode
}

func newPageData(f Form, errs Errors, r *Result) pageData {
	sampleJSON, _ := json.Marshal(samples)
	var unitNames []string
	for _, u := range units {
		unitNames = append(unitNames, u.name)
	}
	return pageData{
		Form: f, Errors: errs, Result: r,
		Ciphers: cbc.Names(), Services: services, Modes: modeNames(), Units: unitNames,
		Sample: string(sampleJSON), SampleSequence: SampleSequence, SealedSample: sealedSample, MaxPorts: MaxPorts,
		KDF: sealed.DefaultKDF(), MaxKDFTime: MaxKDFTime, MaxKDFMemory: MaxKDFMemory, MaxKDFThreads: MaxKDFThreads,
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
	res, errs := l.act(r.Context(), r.PostForm.Get("action"), &f)
	if res != nil && (errs == nil || res.Fields != nil) {
		f.set(res.Fields)
		f.Sequence = res.Sequence
	}
	status := http.StatusOK
	if errs != nil {
		status = errs.status()
	}
	l.render(w, status, "page.html", newPageData(f, errs, res))
}

// act does what the button pressed asks, changing the form where it
// fills something in.
func (l *Lab) act(ctx context.Context, action string, f *Form) (*Result, Errors) {
	switch action {
	case "sample":
		s, ok := samples[modeName(*f)]
		if !ok {
			s = sample
		}
		*f = s
		return l.run(ctx, "encode", *f)
	case "clear":
		f.clearValues()
	case "mode": // the mode selector, without JavaScript: the page is shown again in that mode
		if _, ok := modes[modeName(*f)]; !ok {
			return nil, unknownMode(*f)
		}
	case "keygen":
		k, err := l.generateKey()
		if err != nil {
			return nil, Errors{"key": err.Error()}
		}
		f.Key, f.Password = k, ""
	case "encode", "decode":
		return l.run(ctx, action, *f)
	default:
		return nil, Errors{"form": fmt.Sprintf("unknown action %q: press encrypt or decrypt", action)}
	}
	return nil, nil
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

// AdvancedOpen reports whether the legacy knock's advanced fields are
// shown open: when one is filled in or has an error.
func (d pageData) AdvancedOpen() bool { return d.open("span", "format", "flags", "rand", "ivvalue") }

// SealedAdvancedOpen is AdvancedOpen for the sealed knock's time, nonce,
// window and source address.
func (d pageData) SealedAdvancedOpen() bool { return d.open("timestamp", "nonce", "window", "source") }

// KDFOpen reports whether the passphrase and its KDF are shown open.
func (d pageData) KDFOpen() bool {
	return d.open("password", "kdftime", "kdfmemory", "kdfthreads", "kdfsalt")
}

func (d pageData) open(fields ...string) bool {
	for _, k := range fields {
		if *d.Form.field(k) != "" || d.Errors[k] != "" {
			return true
		}
	}
	return false
}
