package app

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"reflect"
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
	Sessions     []sessionView
	Error        errorView

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
	}
}

var templateFuncs = template.FuncMap{
	// dict builds a map from key/value pairs, to pass several values to a
	// partial template.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
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
// clean 500 page, never half a page behind a 200. Pages whose data a
// pageKey captures are served from the page cache.
func (app *application) render(w http.ResponseWriter, r *http.Request, status int, page string, data templateData) {
	t, ok := app.templates[page]
	if !ok {
		app.serverError(w, r, fmt.Errorf("no template %q", page))
		return
	}
	// Error pages are not kept: their paths are whatever a client sends,
	// and would churn the cache.
	key, cacheable := newPageKey(t, data)
	cacheable = cacheable && status < http.StatusBadRequest
	if cacheable {
		if b, hit := app.pages.get(key); hit {
			writePage(w, status, b)
			return
		}
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
	if cacheable {
		app.pages.put(key, bytes.Clone(buf.Bytes()))
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

// A rendered page is a pure function of its template and its templateData:
// templates and their funcs read nothing else (no clock, no request). Most
// pages are shown with data that repeats (a user's account page, the empty
// login form), and executing html/template is most of the CPU of such a
// page view, so those pages are rendered once and copied out afterwards.
//
// pageKey holds everything a page's output depends on. newPageKey declines
// data it cannot capture whole: forms with errors, the session list (its
// "3 minutes ago" changes by itself), and any templateData field added
// later that it does not know of.
type pageKey struct {
	tmpl     *template.Template
	path     string
	user     auth.User
	signedIn bool
	year     int
	notice   string
	forms    [3]string // Form, PasswordForm, DeleteForm: encoded values, or "\x00" for nil
	err      errorView
}

func newPageKey(t *template.Template, d templateData) (pageKey, bool) {
	k := pageKey{tmpl: t, path: d.Path, year: d.Year, notice: d.Notice, err: d.Error}
	if d.User != nil {
		k.user, k.signedIn = *d.User, true
	}
	for i, f := range [3]*form{d.Form, d.PasswordForm, d.DeleteForm} {
		switch {
		case f == nil:
			k.forms[i] = "\x00"
		case len(f.FieldErrors) > 0 || f.Message != "" || len(f.order) > 0:
			return pageKey{}, false
		default:
			k.forms[i] = f.values.Encode()
		}
	}
	rest := d
	rest.Path, rest.User, rest.Year, rest.Notice, rest.Error = "", nil, 0, "", errorView{}
	rest.Form, rest.PasswordForm, rest.DeleteForm = nil, nil, nil
	if !reflect.ValueOf(rest).IsZero() { // Sessions, or a field the key lacks
		return pageKey{}, false
	}
	return k, true
}

// pageCacheSize bounds the page cache: a few MB of pages, enough for the
// pages of every user active at once on a modest site. A full cache drops
// an arbitrary page for each new one.
const pageCacheSize = 1024

// pageCache holds rendered pages; each application has its own.
type pageCache struct {
	mu sync.RWMutex
	m  map[pageKey][]byte
}

func newPageCache() *pageCache {
	return &pageCache{m: make(map[pageKey][]byte)}
}

func (c *pageCache) get(k pageKey) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	b, ok := c.m[k]
	return b, ok
}

func (c *pageCache) put(k pageKey, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= pageCacheSize {
		for old := range c.m { // map order is random enough for eviction
			delete(c.m, old)
			break
		}
	}
	c.m[k] = b
}
