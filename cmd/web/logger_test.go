package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoggerBuffersInfoNotWarnings checks the log buffer of a file: info
// lines wait (one write per batch, not per request), a warning goes out at
// once with what came before it, and closing writes out the rest.
func TestLoggerBuffersInfoNotWarnings(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	read := func() string {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	logger, flush := newLogger(config{LogLevel: slog.LevelInfo, LogFormat: "text"}, f)

	logger.Info("first")
	if got := read(); strings.Contains(got, "first") {
		t.Fatalf("info line written at once: %q", got)
	}
	logger.Warn("second")
	if got := read(); !strings.Contains(got, "first") || !strings.Contains(got, "second") {
		t.Fatalf("after a warning: got %q, want both lines written", got)
	}
	logger.Info("third")
	flush()
	if got := read(); !strings.Contains(got, "third") {
		t.Fatalf("after flush: got %q, want the third line", got)
	}
	logger.Info("after close")
	if got := read(); !strings.Contains(got, "after close") {
		t.Fatalf("after close: got %q, want lines written at once", got)
	}
}
