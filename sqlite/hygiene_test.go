package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// lockedBuffer is a bytes.Buffer safe for the store's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsHoldNoPayload runs appends, conflicts, rejected input, reads,
// watches, snapshots and a reopen with logging at Debug (below the default
// Info) and checks that no event data, metadata or snapshot state reaches
// the log.
func TestLogsHoldNoPayload(t *testing.T) {
	const secret = "s3cr3t-payload"
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := t.Context()
	opts := &sqlite.Options{Logger: log, PollInterval: 5 * time.Millisecond}

	s := openT(t, path, opts)
	ev := chronicle.EventData{
		Type:     "Secret",
		Data:     []byte(`{"card":"` + secret + `"}`),
		Metadata: []byte(`{"token":"` + secret + `"}`),
	}
	if _, err := s.Append(ctx, "acct", chronicle.NoStream, ev, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "acct", chronicle.NoStream, ev); !errors.Is(err, chronicle.ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	bad := ev
	bad.Metadata = []byte(`{"token":"` + secret + `"`) // not JSON
	if _, err := s.Append(ctx, "acct", chronicle.Any, bad); !errors.Is(err, chronicle.ErrInvalid) {
		t.Fatalf("bad metadata: %v", err)
	}
	if err := s.SaveSnapshot(ctx, "acct", "balance", 2, []byte(secret)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadSnapshot(ctx, "acct", "balance"); err != nil {
		t.Fatal(err)
	}
	readAll(t, s)
	wctx, cancel := context.WithCancel(ctx)
	n := 0
	for _, err := range s.WatchAll(wctx, chronicle.Position{}, nil) {
		if err != nil {
			break
		}
		if n++; n == 2 {
			cancel()
		}
	}
	cancel()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A reopen, and a file that is not a store.
	s2 := openT(t, path, opts)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat(secret, 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, junk, opts); err == nil {
		t.Fatal("junk file opened")
	}

	out := logs.String()
	if out == "" {
		t.Fatal("nothing was logged at Debug: the test would prove nothing")
	}
	if strings.Contains(out, secret) {
		t.Errorf("a payload reached the log:\n%s", out)
	}
}
