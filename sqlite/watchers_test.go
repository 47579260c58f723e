package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

// TestStuckWatcher: many watchers follow the global stream while events
// are appended; one of them stops reading after its first event. The
// others get everything as it comes; the stuck one, once it resumes, gets
// every event in order, though by then they have left the live window it
// shared with the others; memory stays bounded meanwhile; and cancelled
// watchers leave no goroutine behind.
func TestStuckWatcher(t *testing.T) {
	if testing.Short() {
		t.Skip("many watchers")
	}
	watchers := 1000
	if raceEnabled {
		watchers = 100 // the race detector makes each delivery ~10× dearer
	}
	const (
		events = 9_000 // more than the live window holds (8,192)
		batch  = 100
	)
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "watched.db"), nil)
	before := runtime.NumGoroutine()

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		caughtUp sync.WaitGroup
		done     atomic.Int64 // watchers that have every event
		resume   = make(chan struct{})
		stuckAt  = make(chan struct{})
		failures = make(chan error, watchers)
	)
	caughtUp.Add(watchers)
	for w := range watchers {
		stuck := w == watchers/2
		wg.Go(func() {
			var last chronicle.Position
			n := 0
			opts := &chronicle.WatchOptions{CaughtUp: caughtUp.Done}
			for ev, err := range s.WatchAll(wctx, chronicle.Position{}, opts) {
				if err != nil {
					if wctx.Err() == nil {
						failures <- fmt.Errorf("watcher %d: %w", w, err)
					}
					return
				}
				if !last.Before(ev.Position) || ev.Data[0] != '{' {
					failures <- fmt.Errorf("watcher %d: event %d out of order or damaged", w, n)
					return
				}
				last = ev.Position
				if n++; n == events {
					done.Add(1)
				}
				if stuck && n == 1 {
					close(stuckAt)
					<-resume // stops reading until released
				}
			}
		})
	}
	caughtUp.Wait()

	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	data := []byte(`{"n":1234567890,"note":"a small event"}`)
	for i := 0; i < events; i += batch {
		evs := make([]chronicle.EventData, batch)
		for j := range evs {
			evs[j] = chronicle.EventData{Type: "Tick", Data: data}
		}
		if _, err := s.Append(ctx, fmt.Sprint("s-", i/batch%10), chronicle.Any, evs...); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-stuckAt
		}
	}
	waitFor := func(what string, want int64) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for done.Load() < want {
			select {
			case err := <-failures:
				t.Fatal(err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d watchers have every event", what, done.Load(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("while one is stuck", int64(watchers-1))
	close(resume)
	waitFor("after it resumed", int64(watchers))
	close(stopSampling)
	<-sampled

	cancel()
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	// The watches' goroutines (the tail's follower included) end with them.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the watches ended, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	const bound = 512 << 20
	if p := peak.Load(); p > bound {
		t.Errorf("peak heap %d MiB with %d watchers, bound %d MiB", p>>20, watchers, bound>>20)
	}
	t.Logf("%d watchers (one stuck past the live window), %d events each: peak heap %d MiB", watchers, events, peak.Load()>>20)
}
