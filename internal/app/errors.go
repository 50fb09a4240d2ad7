package app

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/sessionlogin/sessionlogin/internal/auth"
)

// errorView is what the error page shows.
type errorView struct {
	Status  int
	Title   string
	Message string
}

var errorViews = map[int]errorView{
	http.StatusBadRequest:            {Title: "Bad request", Message: "The request could not be understood. Please go back and try again."},
	http.StatusForbidden:             {Title: "Request refused", Message: "This request came from another site, so it was refused to protect your account. Please use the forms on this site."},
	http.StatusNotFound:              {Title: "Page not found", Message: "There is nothing at this address. Check the link, or start again from the home page."},
	http.StatusMethodNotAllowed:      {Title: "Method not allowed", Message: "This address does not accept that kind of request."},
	http.StatusRequestEntityTooLarge: {Title: "Request too large", Message: "The form you sent was larger than this site accepts."},
	http.StatusUnprocessableEntity:   {Title: "Invalid input", Message: "Some of the information sent was not valid."},
	http.StatusTooManyRequests:       {Title: "Too many attempts", Message: "Too many attempts in a short time. Please wait a few minutes and try again."},
	http.StatusInternalServerError:   {Title: "Something went wrong", Message: "An unexpected error occurred on our side. It has been logged; please try again."},
	http.StatusServiceUnavailable:    {Title: "Service unavailable", Message: "The service is temporarily unavailable. Please try again in a moment."},
}

// fallback500 is sent when even the error template fails.
const fallback500 = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Server error</title></head>` +
	`<body><h1>Something went wrong</h1><p>An unexpected error occurred. Please try again.</p></body></html>`

func writeFallback500(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(fallback500))
}

// errorPage renders the styled page for status.
func (app *application) errorPage(w http.ResponseWriter, r *http.Request, status int) {
	view, ok := errorViews[status]
	if !ok {
		view = errorView{Title: http.StatusText(status), Message: "The request could not be completed."}
	}
	view.Status = status
	data := app.newTemplateData(r)
	data.Error = view
	w.Header().Set("Cache-Control", "no-store")
	app.render(w, r, status, "error", data)
}

func (app *application) logError(r *http.Request, err error) {
	app.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
		slog.String("method", truncate(r.Method, maxLoggedValue)),
		slog.String("path", truncate(r.URL.Path, maxLoggedValue)),
		slog.String("request_id", requestIDFrom(r.Context())),
		slog.String("error", err.Error()))
}

// serverError logs err and answers 503 when a backing service (database,
// session store) failed, else 500. The user never sees err itself.
func (app *application) serverError(w http.ResponseWriter, r *http.Request, err error) {
	app.logError(r, err)
	if errors.Is(err, auth.ErrUnavailable) {
		w.Header().Set("Retry-After", "5")
		app.errorPage(w, r, http.StatusServiceUnavailable)
		return
	}
	app.errorPage(w, r, http.StatusInternalServerError)
}

func (app *application) notFound(w http.ResponseWriter, r *http.Request) {
	app.errorPage(w, r, http.StatusNotFound)
}

// methodNotAllowed answers 405 with the Allow header listing the methods
// the path does accept.
func (app *application) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		if app.router.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allowed = append(allowed, m)
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	app.errorPage(w, r, http.StatusMethodNotAllowed)
}
