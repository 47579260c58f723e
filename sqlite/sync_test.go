package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/chronicle-go/chronicle"
)

// TestSynchronous checks the writer's synchronous setting for each option
// (SQLite: 1 is NORMAL, 2 is FULL), and that it lasts across a reopen.
func TestSynchronous(t *testing.T) {
	for _, tc := range []struct {
		opt  Synchronous
		want int64
	}{{SyncNormal, 1}, {SyncFull, 2}} {
		t.Run(tc.opt.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.db")
			for range 2 {
				b, err := OpenBackend(t.Context(), path, &Options{Synchronous: tc.opt})
				if err != nil {
					t.Fatal(err)
				}
				var got int64
				_, err = b.writer.row("PRAGMA synchronous", []*int64{&got})
				if cerr := b.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want {
					t.Errorf("PRAGMA synchronous = %d, want %d", got, tc.want)
				}
			}
		})
	}
}

// TestHead: the backend's Head is the zero Position on an empty store and
// the newest event's position after appends, as Stats reports it.
func TestHead(t *testing.T) {
	ctx := t.Context()
	b, err := OpenBackend(ctx, filepath.Join(t.TempDir(), "h.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chronicle.New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if head, err := b.Head(ctx); err != nil || head != (chronicle.Position{}) {
		t.Fatalf("empty store: Head = %v, %v", head, err)
	}
	res, err := s.Append(ctx, "a", chronicle.NoStream, chronicle.EventData{Type: "X"}, chronicle.EventData{Type: "Y"})
	if err != nil {
		t.Fatal(err)
	}
	head, err := b.Head(ctx)
	st, serr := s.Stats(ctx)
	if err != nil || serr != nil || head != res.Positions[1] || head != st.Head {
		t.Fatalf("Head = %v (%v), want %v; Stats.Head %v (%v)", head, err, res.Positions[1], st.Head, serr)
	}
}
