package sqlite_test

import (
	"context"
	"errors"
	"iter"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

// TestCancelEndsPromptly cancels reads and watches in their three states
// (reading history, waiting live, catching up) from another goroutine and
// checks that each ends with the context's error. It logs how long each
// took; RELIABILITY.md has the figures. The bound asserted is generous, for
// loaded machines: the aim is < 100 ms.
func TestCancelEndsPromptly(t *testing.T) {
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "cancel.db"), nil)
	evs := make([]chronicle.EventData, 1000)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "Filled", Data: []byte(`{"n":1}`)}
	}
	for range 50 { // 50,000 events
		if _, err := s.Append(ctx, "s", chronicle.Any, evs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		seq  func(context.Context) iter.Seq2[chronicle.Event, error]
		wait time.Duration // before cancelling
	}{
		{"ReadAll", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.ReadAll(c, chronicle.Position{}, nil)
		}, 2 * time.Millisecond},
		{"Read", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.Read(c, "s", 0, nil)
		}, 2 * time.Millisecond},
		{"WatchAll catching up", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.WatchAll(c, chronicle.Position{}, nil)
		}, 2 * time.Millisecond},
		{"Watch waiting live", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.Watch(c, "s", 50_000, nil)
		}, 20 * time.Millisecond},
		{"WatchAll waiting live", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.WatchAll(c, chronicle.EndPosition(), nil)
		}, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			var cancelled time.Time
			go func() {
				time.Sleep(tc.wait)
				cancelled = time.Now()
				cancel()
			}()
			var last error
			for _, err := range tc.seq(c) {
				if err != nil {
					last = err
				}
			}
			took := time.Since(cancelled)
			if !errors.Is(last, context.Canceled) {
				t.Fatalf("ended with %v, want context.Canceled (history shorter than the wait?)", last)
			}
			if took > 2*time.Second {
				t.Errorf("ended %v after the cancel", took)
			}
			t.Logf("ended %v after the cancel", took.Round(10*time.Microsecond))
		})
	}
}
