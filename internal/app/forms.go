package app

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// form carries submitted values back to a re-rendered page, with an error
// per field and, optionally, one message for the whole form.
type form struct {
	values      url.Values
	FieldErrors map[string]string
	Message     string
	order       []string // fields in the order errors were added
}

func newForm(values url.Values) *form {
	if values == nil {
		values = url.Values{}
	}
	return &form{values: values, FieldErrors: map[string]string{}}
}

// Get returns the submitted value of field (never re-shown for passwords:
// the templates leave password inputs empty).
func (f *form) Get(field string) string { return f.values.Get(field) }

// Error returns the error of field, if any.
func (f *form) Error(field string) string { return f.FieldErrors[field] }

// AddError records an error for field; the first one stays.
func (f *form) AddError(field, msg string) {
	if _, ok := f.FieldErrors[field]; ok {
		return
	}
	f.FieldErrors[field] = msg
	f.order = append(f.order, field)
}

// FirstError names the field to focus when the page is shown again.
func (f *form) FirstError() string {
	if len(f.order) == 0 {
		return ""
	}
	return f.order[0]
}

// HasErrors reports whether the form is to be shown again with errors.
func (f *form) HasErrors() bool { return len(f.FieldErrors) > 0 || f.Message != "" }

// Required adds msg to field when it is empty.
func (f *form) Required(field, msg string) {
	if strings.TrimSpace(f.Get(field)) == "" {
		f.AddError(field, msg)
	}
}

// parseForm decodes an application/x-www-form-urlencoded body. On failure
// it answers itself (413 for an oversized body, 400 otherwise) and
// returns false.
func (app *application) parseForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.Header().Set("Connection", "close")
			app.errorPage(w, r, http.StatusRequestEntityTooLarge)
			return nil, false
		}
		app.errorPage(w, r, http.StatusBadRequest)
		return nil, false
	}
	return r.PostForm, true
}

// safeNext returns next when it is a path on this site ("/x"), else "".
// It refuses "//host" and "/\host" (browsers read both as another host),
// schemes, hosts, and control characters (browsers drop tabs and newlines,
// which could turn "/\t/host" into "//host").
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return ""
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return ""
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
		return ""
	}
	return next
}
