package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/chronicle-go/chronicle"
)

// walPages is the size of the WAL file at path, in database pages (header
// bytes included): the file keeps the largest size the WAL reached.
func walPages(t *testing.T, path string, pageSize int64) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size() / (pageSize + 24) // each frame is a page plus a 24-byte header
}

func pageSizeT(t *testing.T, b *Backend) int64 {
	t.Helper()
	var n int64
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if _, err := b.writer.row("PRAGMA page_size", []*int64{&n}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWALCheckpoints: commits through the store's writer and through
// transactions of the DB handle, from several goroutines, each write larger than a page, keep
// the WAL bounded by walPagesLimit (plus what one group commit writes)
// while it takes more than ten times that, because a checkpointer goroutine
// copies it back into the database; every event and row is still there.
func TestWALCheckpoints(t *testing.T) {
	for _, via := range []string{"appends", "DB"} {
		t.Run(via, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "w.db")
			s, b := openStoreT(t, path)
			db := b.DB()
			if _, err := db.ExecContext(ctx, "CREATE TABLE rows (k INTEGER PRIMARY KEY, v BLOB)"); err != nil {
				t.Fatal(err)
			}
			page := pageSizeT(t, b)
			data := make([]byte, 2*page)
			const writers, each = 4, 1500 // ≥ 3 pages a write: > 10 × walPagesLimit // ≥ 3 pages a write: > 10 × walPagesLimit
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						var err error
						if via == "appends" {
							_, err = s.Append(ctx, "s-"+strconv.Itoa(w), chronicle.Any, chronicle.EventData{Type: "Big", Data: data})
						} else {
							err = insertTx(ctx, db, w*each+i, data)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if got := walPages(t, path, page); got > walPagesLimit+int64(DefaultMaxGroup)*3 {
				t.Errorf("the WAL reached %d pages; the bound is %d plus a group's", got, walPagesLimit)
			}
			if b.ckpt.runs.Load() == 0 || b.ckpt.restarts.Load() == 0 {
				t.Errorf("%d checkpoints in the background, the WAL started over %d times", b.ckpt.runs.Load(), b.ckpt.restarts.Load())
			}
			var n int64
			if via == "appends" {
				st, err := s.Stats(ctx)
				if err != nil {
					t.Fatal(err)
				}
				n = st.Events
			} else if err := db.QueryRowContext(ctx, "SELECT count(*) FROM rows").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != writers*each {
				t.Errorf("%d written, want %d", n, writers*each)
			}
		})
	}
}

// TestWALCheckpointAfterLongRead: a read transaction that stays open keeps
// the checkpoints from copying what was committed after it began, so the
// WAL grows past its bound meanwhile; once the read ends, the next commits
// get the WAL copied and started over, and nothing is lost.
func TestWALCheckpointAfterLongRead(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "r.db")
	s, b := openStoreT(t, path)
	db := b.DB()
	page := pageSizeT(t, b)
	data := make([]byte, 2*page)
	appendN := func(n int) {
		t.Helper()
		for range n {
			if _, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "Big", Data: data}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(10)
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var before int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM chronicle_events").Scan(&before); err != nil {
		t.Fatal(err)
	}
	appendN(2 * walPagesLimit / 3) // ≥ 2 × walPagesLimit pages
	if got := walPages(t, path, page); got < 2*walPagesLimit {
		t.Fatalf("the WAL has %d pages while a read pins it; want ≥ %d", got, 2*walPagesLimit)
	}
	var still int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM chronicle_events").Scan(&still); err != nil {
		t.Fatal(err)
	}
	if still != before {
		t.Errorf("the read's snapshot changed: %d events, then %d", before, still)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// Once the read is over, the WAL is copied and starts over.
	for i := 0; ; i++ {
		appendN(1)
		b.wmu.Lock()
		log, copied, busy, err := b.ckpt.checkpoint(b.writer)
		b.wmu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if !busy && log < checkpointPages && copied == log {
			break
		}
		if i == 2*walPagesLimit {
			t.Fatalf("the WAL did not start over after the read ended: %d pages, %d copied", log, copied)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(10 + 2*walPagesLimit/3 + 1); st.Events < want {
		t.Errorf("%d events, want ≥ %d", st.Events, want)
	}
}

func insertTx(ctx context.Context, db *sql.DB, k int, v []byte) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO rows (k, v) VALUES (?, ?)", k, v); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// TestCheckpointHookHeld: the Checkpoint hook says how long each
// checkpoint held the writes: all of an inline one, part of one that held
// them to let the WAL start over, none of the others.
func TestCheckpointHookHeld(t *testing.T) {
	var mu sync.Mutex
	var infos []chronicle.CheckpointInfo
	hooks := &chronicle.Hooks{Checkpoint: func(i chronicle.CheckpointInfo) {
		mu.Lock()
		infos = append(infos, i)
		mu.Unlock()
	}}
	s, b := openHooked(t, filepath.Join(t.TempDir(), "h.db"), hooks)
	data := make([]byte, 2*pageSizeT(t, b))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 500 { // 2,000 writes of 2 pages: a few checkpoints
				if _, err := s.Append(t.Context(), "s-"+strconv.Itoa(w), chronicle.Any, chronicle.EventData{Type: "Big", Data: data}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(infos) == 0 {
		t.Fatal("no checkpoint reported")
	}
	held := 0
	for _, i := range infos {
		switch {
		case i.Inline && i.Held != i.Duration:
			t.Errorf("inline checkpoint: held %v of %v, want all of it", i.Held, i.Duration)
		case i.HeldWrites && (i.Held <= 0 || i.Held > i.Duration):
			t.Errorf("checkpoint that held writes: held %v of %v", i.Held, i.Duration)
		case !i.Inline && !i.HeldWrites && !i.Busy && i.Held != 0:
			t.Errorf("checkpoint that held nothing reports held %v", i.Held)
		}
		if i.Held > 0 {
			held++
		}
	}
	t.Logf("%d checkpoints, %d held writes", len(infos), held)
}
