package sqlite_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// Reads cancelled at random points must not leave a read transaction (a stale
// snapshot) on a pooled connection.
func TestNoStaleSnapshotAfterCancelledReads(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "e.db"), &sqlite.Options{ReadConns: 2, PageSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs := make([]chronicle.EventData, 5000)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "E", Data: make([]byte, 100), Metadata: []byte(`{"t":1}`)}
	}
	if _, err := s.Append(t.Context(), "a", chronicle.Any, evs...); err != nil {
		t.Fatal(err)
	}
	f := &chronicle.ReadOptions{Filter: chronicle.Filter{chronicle.MetadataIs("t", 2)}}
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(3000))*time.Microsecond)
		switch i % 3 {
		case 0:
			for range s.ReadAll(ctx, chronicle.Position{}, f) {
			}
		case 1:
			_, _ = s.Stats(ctx)
		case 2:
			for range s.Read(ctx, "a", 0, &chronicle.ReadOptions{Filter: f.Filter}) {
			}
		}
		cancel()
		if _, err := s.Append(t.Context(), "b", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			st, err := s.Stats(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(5000 + i + 1); st.Events != want {
				t.Fatalf("iteration %d: Stats.Events = %d, want %d (stale snapshot)", i, st.Events, want)
			}
		}
	}
	_ = fmt.Sprint()
}
