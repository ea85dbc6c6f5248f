package lab

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// apiError is the body of a failed API call: the errors by field and, for
// a knock that failed to decode, the stages it reached.
type apiError struct {
	Errors Errors  `json:"errors"`
	Result *Result `json:"result,omitempty"`
}

// api serves POST /api/encode and /api/decode. The body is a JSON object
// of form fields; a form-encoded body (curl -d) is read the same way.
func (l *Lab) api(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			status, errs := bodyError(err)
			writeJSON(w, status, apiError{Errors: errs})
			return
		}
		f, errs := apiForm(r.Header.Get("Content-Type"), body)
		if errs != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Errors: errs})
			return
		}
		res, errs := l.run(r.Context(), action, f)
		if errs != nil {
			if errs.status() == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
			}
			writeJSON(w, errs.status(), apiError{Errors: errs, Result: res})
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func apiForm(contentType string, body []byte) (Form, Errors) {
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return Form{}, Errors{"body": "the form could not be read: " + err.Error()}
		}
		return formFromValues(v), nil
	}
	return formFromJSON(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// apiDoc serves the API's description.
func (l *Lab) apiDoc(w http.ResponseWriter, r *http.Request) {
	l.render(w, http.StatusOK, "api.html", newPageData(sample, nil, nil))
}
