package app

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/ui"
)

// templateData is what every page template receives.
type templateData struct {
	Path   string
	User   *auth.User
	Year   int
	Notice string

	Form         *form // the page's main form
	PasswordForm *form
	DeleteForm   *form
	EmailForm    *form
	Sessions     []sessionView
	Activity     activityPage
	Error        errorView

	// Token is the one-time token of the reset or confirmation page, sent
	// back in a hidden field.
	Token string
	// Sent marks the forgot-password page once an address was submitted.
	Sent bool
	// Purpose is what an address link confirms: auth.PurposeVerifyEmail
	// or auth.PurposeChangeEmail.
	Purpose auth.Purpose
	// AskAgain is where a visitor with a dead link gets a new one.
	AskAgain string
	// Second factors. Pointers and slices, so that the page cache never
	// keeps a page showing them (see newPageKey).
	Security      *securityView
	TOTPSetup     *auth.TOTPSetup
	RecoveryCodes []string
	Confirm       *confirmView
}

func (app *application) newTemplateData(r *http.Request) templateData {
	return templateData{
		Path:         r.URL.Path,
		User:         currentUser(r),
		Year:         time.Now().Year(),
		Form:         newForm(nil),
		PasswordForm: newForm(nil),
		DeleteForm:   newForm(nil),
		EmailForm:    newForm(nil),
	}
}

var templateFuncs = template.FuncMap{
	"field": field,
}

// parseTemplates parses every page in ui/html/pages with the base layout
// and the partials, keyed by page name ("login" for login.tmpl). A new page
// needs only its file.
func parseTemplates() (map[string]*template.Template, error) {
	pages, err := fs.Glob(ui.Files, "html/pages/*.tmpl")
	if err != nil {
		return nil, err
	}
	cache := make(map[string]*template.Template, len(pages))
	for _, page := range pages {
		name := strings.TrimSuffix(path.Base(page), ".tmpl")
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(ui.Files, "html/base.tmpl", "html/partials/*.tmpl", page)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		cache[name] = t
	}
	if _, ok := cache["error"]; !ok {
		return nil, errors.New("template error.tmpl is missing")
	}
	return cache, nil
}

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes page into a buffer first: a template error then becomes a
// clean 500 page, never half a page behind a 200.
func (app *application) render(w http.ResponseWriter, r *http.Request, status int, page string, data templateData) {
	t, ok := app.templates[page]
	if !ok {
		app.serverError(w, r, fmt.Errorf("no template %q", page))
		return
	}
	buf := bufferPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufferPool.Put(buf)
	if err := t.ExecuteTemplate(buf, "base", data); err != nil {
		if page == "error" {
			app.log.Error("error page template failed", "error", err)
			// A page this error replaces may have set its own length.
			w.Header().Del("Content-Length")
			writeFallback500(w)
			return
		}
		app.serverError(w, r, fmt.Errorf("render %s: %w", page, err))
		return
	}
	writePage(w, status, buf.Bytes())
}

// writePage sends a whole page. Its length is known, so it goes out with a
// Content-Length rather than in chunks (net/http chunks a response body
// longer than 2 KiB written by a handler that did not set one).
func writePage(w http.ResponseWriter, status int, page []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	_, _ = w.Write(page)
}
