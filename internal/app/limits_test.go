package app_test

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/sessionlogin/sessionlogin/internal/webtest"
)

// logMeter is a log writer that keeps only sizes: bytes, lines, and the
// longest line.
type logMeter struct {
	mu      sync.Mutex
	bytes   int
	lines   int
	longest int
}

func (m *logMeter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bytes += len(p)
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		m.lines++
		m.longest = max(m.longest, len(line))
	}
	return len(p), nil
}

func (m *logMeter) read() (bytes, lines, longest int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.bytes, m.lines, m.longest
}

// scrapeMetrics returns the size of /metrics and its number of series
// (sample lines).
func scrapeMetrics(t *testing.T, base string) (size, series int) {
	t.Helper()
	res := webtest.NewClient(t).Get(base + "/metrics")
	webtest.WantStatus(t, res, http.StatusOK)
	for _, line := range strings.Split(res.Body, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			series++
		}
	}
	return len(res.Body), series
}

// liveHeap returns the bytes still reachable after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func randomToken(r *rand.Rand, n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// TestLongMethodsBounded sends requests with random 16,000-character
// methods (any token is a valid method for net/http), half of them to long
// random paths: the metrics must not grow a series per method, the heap
// must not keep them, and the log lines must stay short. (The review took
// a process from 45 MB to 1.1 GB this way.)
func TestLongMethodsBounded(t *testing.T) {
	const (
		requests     = 300
		methodLength = 16000
		// Bounds, far below what keeping each method would cost (a series
		// per method: 16 kB a label, 16 sample lines a method).
		maxNewSeries   = 50
		maxMetricsGrow = 16 << 10
		maxHeapGrow    = 2 << 20
		maxLogLine     = 1 << 10
	)
	logs := &logMeter{}
	srv := newInstance(t, newShared(t, "memory"), options{logs: logs})
	c := webtest.NewClient(t)
	c.Get(srv.URL + "/") // warm up: the first request's series and buffers
	sizeBefore, seriesBefore := scrapeMetrics(t, srv.URL)
	heapBefore := liveHeap()
	logBytesBefore, logLinesBefore, _ := logs.read()

	r := rand.New(rand.NewPCG(1, 2))
	for i := range requests {
		path := "/"
		if i%2 == 1 {
			path = "/x" + strings.ToLower(randomToken(r, methodLength/2))
		}
		res := c.Send(randomToken(r, methodLength), srv.URL+path, nil, nil)
		if res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Fatalf("request %d: got status %d, want a 4xx page", i, res.StatusCode)
		}
	}

	sizeAfter, seriesAfter := scrapeMetrics(t, srv.URL)
	heapAfter := liveHeap()
	logBytes, logLines, longest := logs.read()
	heapGrow := int64(heapAfter) - int64(heapBefore)
	t.Logf("%d requests: series %d -> %d, /metrics %d -> %d bytes, live heap %+d bytes, log %d bytes in %d lines (%.0f bytes a request, longest line %d)",
		requests, seriesBefore, seriesAfter, sizeBefore, sizeAfter, heapGrow,
		logBytes-logBytesBefore, logLines-logLinesBefore, float64(logBytes-logBytesBefore)/requests, longest)

	if n := seriesAfter - seriesBefore; n > maxNewSeries {
		t.Errorf("metrics grew by %d series, want at most %d", n, maxNewSeries)
	}
	if n := sizeAfter - sizeBefore; n > maxMetricsGrow {
		t.Errorf("/metrics grew by %d bytes, want at most %d", n, maxMetricsGrow)
	}
	if heapGrow > maxHeapGrow {
		t.Errorf("live heap grew by %d bytes, want at most %d", heapGrow, maxHeapGrow)
	}
	if longest > maxLogLine {
		t.Errorf("longest log line is %d bytes, want at most %d", longest, maxLogLine)
	}
}
