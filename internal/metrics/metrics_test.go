package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionlogin/sessionlogin/internal/auth"
	"github.com/sessionlogin/sessionlogin/internal/metrics"
	"github.com/sessionlogin/sessionlogin/internal/storage"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: got status %d, want 200", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestExposition(t *testing.T) {
	m := metrics.New()
	m.ObserveRequest("/account/sessions/{id}/revoke", "POST", 303, 3*time.Millisecond)
	m.Record(context.Background(), auth.Event{Kind: auth.EventLoginThrottled})
	m.ObserveStoreOp("get", time.Millisecond, nil)
	m.ObserveStoreOp("get", time.Millisecond, errors.New("down"))

	db, err := storage.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m.WatchDB(db.SQL(), "sqlite")

	out := scrape(t, m)
	for _, want := range []string{
		`http_requests_total{code="303",method="POST",route="/account/sessions/{id}/revoke"} 1`,
		`http_request_duration_seconds_count{method="POST",route="/account/sessions/{id}/revoke"} 1`,
		`auth_events_total{event="login_throttled"} 1`,
		`auth_events_total{event="login_success"} 0`,
		`session_store_operations_total{op="get"} 2`,
		`session_store_errors_total{op="get"} 1`,
		`session_store_operation_duration_seconds_count{op="get"} 2`,
		`go_sql_open_connections{db_name="sqlite"}`,
		`go_goroutines`,
		`process_cpu_seconds_total`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Two Metrics never share a registry: tests and several apps in one
// process must not collide on registration.
func TestIndependentRegistries(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.ObserveRequest("/", "GET", 200, time.Millisecond)
	if strings.Contains(scrape(t, b), `route="/"`) {
		t.Fatal("a request observed on one Metrics shows on another")
	}
}
