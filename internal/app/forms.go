package app

import (
	"errors"
	"html"
	"html/template"
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

// field renders a labelled input of f, the form component of every page:
// {{field .Form "email" "Email" "email" "email"}}, with an optional hint
// as the last argument. Its hint and error sit between the label and the
// input, both linked to it by aria-describedby; the first field in error
// takes the focus when the page comes back; a password is never re-shown.
//
// It is written in Go, not as a partial template, for speed: html/template
// spends a reflective call on every action, and the twenty actions of a
// field partial made five fields most of the account page's CPU. Every
// value goes through html.EscapeString, which is right both in text and
// in double-quoted attributes.
func field(f *form, name, label, typ, autocomplete string, hint ...string) template.HTML {
	esc := html.EscapeString
	errMsg := f.Error(name)
	var b strings.Builder
	b.Grow(512)
	b.WriteString(`<div class="field`)
	if errMsg != "" {
		b.WriteString(` field-invalid`)
	}
	b.WriteString(`">` + "\n" + `  <label for="` + esc(name) + `">` + esc(label) + "</label>\n  ")
	var described []string
	if errMsg != "" {
		described = append(described, name+"-error")
	}
	if len(hint) > 0 && hint[0] != "" {
		described = append(described, name+"-hint")
		b.WriteString(`<p class="hint" id="` + esc(name) + `-hint">` + esc(hint[0]) + `</p>`)
	}
	b.WriteString("\n  ")
	if errMsg != "" {
		b.WriteString(`<p class="field-error" id="` + esc(name) + `-error"><span class="visually-hidden">Error: </span>` + esc(errMsg) + `</p>`)
	}
	b.WriteString("\n  " + `<input id="` + esc(name) + `" name="` + esc(name) + `" type="` + esc(typ) +
		`" autocomplete="` + esc(autocomplete) + `" required`)
	if typ != "password" {
		b.WriteString(` value="` + esc(f.Get(name)) + `"`)
	}
	if typ == "email" {
		b.WriteString(` inputmode="email" spellcheck="false" autocapitalize="none"`)
	}
	if errMsg != "" {
		b.WriteString(` aria-invalid="true"`)
	}
	if len(described) > 0 {
		b.WriteString(` aria-describedby="` + esc(strings.Join(described, " ")) + `"`)
	}
	if f.FirstError() == name {
		b.WriteString(` autofocus`)
	}
	b.WriteString(">\n</div>")
	return template.HTML(b.String())
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
