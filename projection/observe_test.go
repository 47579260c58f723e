package projection_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/sqlite"
)

// TestProjectionBatchHook: a projection catching up in full batches
// reports each batch to the ProjectionBatch hook with how many events
// remain after it (counted on SQLite, whose positions are a sequence;
// unknown, -1, on PostgreSQL), and 0 once a batch reaches the head.
func TestProjectionBatchHook(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var mu sync.Mutex
		var infos []chronicle.ProjectionBatchInfo
		hooks := &chronicle.Hooks{ProjectionBatch: func(i chronicle.ProjectionBatchInfo) {
			mu.Lock()
			infos = append(infos, i)
			mu.Unlock()
		}}
		// A second store on the same database, with the hooks.
		var s *chronicle.Store
		var err error
		if e.schema != "" {
			s, err = postgres.Open(t.Context(), os.Getenv("CHRONICLE_TEST_POSTGRES_URL"),
				&postgres.Options{Schema: e.schema, PollInterval: 10 * time.Millisecond, Hooks: hooks})
		} else {
			s, err = sqlite.Open(t.Context(), e.path, &sqlite.Options{PollInterval: 5 * time.Millisecond, Hooks: hooks})
		}
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		last := appendN(t, e.store, "acct", 3, 10, "Deposited")
		opts := fast()
		opts.BatchSize = 3
		r := newRunner(t, s, opts, projection.Projection{Name: "p", Version: 1,
			Handle: func(context.Context, projection.Batch) error { return nil }})
		defer start(t, r)()
		if err := r.WaitFor(t.Context(), last, "p"); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		var events []int
		var behind []int64
		for _, i := range infos {
			if i.Name != "p" || i.Version != 1 || i.Lag < 0 || i.Duration <= 0 {
				t.Errorf("batch info %+v", i)
			}
			events, behind = append(events, i.Events), append(behind, i.Behind)
		}
		want := []int64{7, 4, 1, 0}
		if e.schema != "" {
			want = []int64{-1, -1, -1, 0}
		}
		if !slices.Equal(events, []int{3, 3, 3, 1}) || !slices.Equal(behind, want) {
			t.Fatalf("batches of %v events, behind %v; want [3 3 3 1], %v", events, behind, want)
		}
		if got := infos[len(infos)-1].Checkpoint; got.Before(last) {
			t.Fatalf("last checkpoint %v, before the last event %v", got, last)
		}
	})
}
