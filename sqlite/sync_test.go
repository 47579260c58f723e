package sqlite

import (
	"path/filepath"
	"testing"
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
