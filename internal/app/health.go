package app

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sessionlogin/sessionlogin/ui"
)

// readyTimeout bounds each readiness check: a dependency slower than this
// counts as down.
const readyTimeout = time.Second

// healthz answers 200 while the process serves; it checks nothing else, so
// an orchestrator does not restart instances because Redis is down.
func (app *application) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 when every dependency answers within readyTimeout,
// else 503, naming each dependency's state in the body.
func (app *application) readyz(w http.ResponseWriter, r *http.Request) {
	results := make([]error, len(app.checks))
	var wg sync.WaitGroup
	for i, c := range app.checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			results[i] = c.Ping(ctx)
		})
	}
	wg.Wait()
	var b strings.Builder
	status := http.StatusOK
	for i, c := range app.checks {
		if results[i] != nil {
			status = http.StatusServiceUnavailable
			fmt.Fprintf(&b, "%s: down\n", c.Name)
			app.logError(r, fmt.Errorf("readiness: %s: %w", c.Name, results[i]))
		} else {
			fmt.Fprintf(&b, "%s: ok\n", c.Name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// metricsView serves the Prometheus metrics to clients inside
// METRICS_ALLOW; to anyone else /metrics does not exist. The counters
// describe every login on the site, which is no one else's business.
func (app *application) metricsView(notFound http.Handler) http.Handler {
	metrics := app.metrics.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !inPrefixes(clientAddrFrom(r.Context()), app.metricsOK) {
			notFound.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		metrics.ServeHTTP(w, r)
	})
}

// staticFiles serves the files of ui/static under /static/. Directories
// (and anything missing) get notFound: no listings of what is there.
func staticFiles(notFound http.Handler) http.Handler {
	sub, err := fs.Sub(ui.Files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// fs.Stat refuses "", "..", and trailing slashes as invalid names.
		fi, err := fs.Stat(sub, strings.TrimPrefix(r.URL.Path, "/static/"))
		if err != nil || fi.IsDir() {
			notFound.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
