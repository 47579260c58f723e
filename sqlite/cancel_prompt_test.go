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
		live bool // waits for events: cancel after a pause, not after the first event
	}{
		{"ReadAll", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.ReadAll(c, chronicle.Position{}, nil)
		}, false},
		{"Read", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.Read(c, "s", 0, nil)
		}, false},
		{"WatchAll catching up", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.WatchAll(c, chronicle.Position{}, nil)
		}, false},
		{"Watch waiting live", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.Watch(c, "s", 50_000, nil)
		}, true},
		{"WatchAll waiting live", func(c context.Context) iter.Seq2[chronicle.Event, error] {
			return s.WatchAll(c, chronicle.EndPosition(), nil)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			var cancelled time.Time
			first := make(chan struct{}) // closed at the first event
			go func() {
				if tc.live {
					time.Sleep(20 * time.Millisecond)
				} else {
					<-first
				}
				cancelled = time.Now()
				cancel()
			}()
			var last error
			n := 0
			for _, err := range tc.seq(c) {
				if err != nil {
					last = err
				} else if n++; n == 1 {
					close(first)
				}
			}
			took := time.Since(cancelled)
			if !errors.Is(last, context.Canceled) {
				t.Fatalf("ended with %v after %d events, want context.Canceled", last, n)
			}
			if took > 2*time.Second {
				t.Errorf("ended %v after the cancel", took)
			}
			t.Logf("ended %v after the cancel", took.Round(10*time.Microsecond))
		})
	}
}
