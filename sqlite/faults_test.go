package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chronicle-go/chronicle"
)

// openStoreT opens a store at path and returns it with its backend.
func openStoreT(t *testing.T, path string) (*chronicle.Store, *Backend) {
	t.Helper()
	b, err := OpenBackend(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chronicle.New(b, &chronicle.Options{MaxBatchBytes: chronicle.LimitBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, b
}

// setMaxPages caps the database file at its current size plus extra pages
// (PRAGMA max_page_count on the writer): a full disk, on demand.
func setMaxPages(t *testing.T, b *Backend, extra int64) {
	t.Helper()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	var pages int64
	if _, err := b.writer.row("PRAGMA page_count", []*int64{&pages}); err != nil {
		t.Fatal(err)
	}
	if err := b.writer.exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+extra)); err != nil {
		t.Fatal(err)
	}
}

func batchOf(n int, prefix string) []chronicle.EventData {
	evs := make([]chronicle.EventData, n)
	for i := range evs {
		evs[i] = chronicle.EventData{ID: fmt.Sprintf("%s-%d", prefix, i), Type: "Filled", Data: []byte(`{"n":12345678}`)}
	}
	return evs
}

// TestDiskFull: a 100,000-event append that runs out of room fails with
// ErrStorageFull and leaves nothing behind; a small append that fits still
// works; once there is room, the same big append succeeds whole.
func TestDiskFull(t *testing.T) {
	ctx := t.Context()
	s, b := openStoreT(t, filepath.Join(t.TempDir(), "full.db"))
	if _, err := s.Append(ctx, "before", chronicle.NoStream, batchOf(10, "before")...); err != nil {
		t.Fatal(err)
	}
	setMaxPages(t, b, 100)
	big := batchOf(100_000, "big")
	_, err := s.Append(ctx, "big", chronicle.NoStream, big...)
	if !errors.Is(err, chronicle.ErrStorageFull) {
		t.Fatalf("append past the size limit: %v, want ErrStorageFull", err)
	}
	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != 10 || stats.Streams != 1 {
		t.Fatalf("after the failed append: %+v, want only the first 10 events", stats)
	}
	if _, err := s.Append(ctx, "small", chronicle.NoStream, batchOf(3, "small")...); err != nil {
		t.Fatalf("a small append that fits: %v", err)
	}

	setMaxPages(t, b, 1<<30)
	res, err := s.Append(ctx, "big", chronicle.NoStream, big...)
	if err != nil {
		t.Fatalf("with room again: %v", err)
	}
	if res.Version != 100_000 {
		t.Fatalf("version %d after the big append", res.Version)
	}
	n := 0
	for ev, err := range s.Read(ctx, "big", 0, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; ev.Version != int64(n) || ev.ID != big[n-1].ID {
			t.Fatalf("event %d: version %d, ID %s", n, ev.Version, ev.ID)
		}
	}
	if n != 100_000 {
		t.Fatalf("read %d events of the big batch", n)
	}
}

// TestDiskFullGroup: when one request of a group commit runs out of room,
// it fails alone; the others of the group are written.
func TestDiskFullGroup(t *testing.T) {
	ctx := t.Context()
	s, b := openStoreT(t, filepath.Join(t.TempDir(), "full.db"))
	setMaxPages(t, b, 50)
	errs := make(chan error, 9)
	release := holdWriter(t, b) // the appends below queue into one group
	for i := range 8 {
		go func() {
			_, err := s.Append(ctx, fmt.Sprint("small-", i), chronicle.NoStream, batchOf(2, "s")...)
			errs <- err
		}()
	}
	go func() {
		_, err := s.Append(ctx, "huge", chronicle.NoStream, batchOf(20_000, "h")...)
		errs <- err
	}()
	waitQueued(t, b, 9)
	release()
	full := 0
	for range 9 {
		err := <-errs
		switch {
		case errors.Is(err, chronicle.ErrStorageFull):
			full++
		case err != nil:
			t.Errorf("append: %v", err)
		}
	}
	if full != 1 {
		t.Fatalf("%d appends failed with ErrStorageFull, want 1 (the huge one)", full)
	}
	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Events != 16 || stats.Streams != 8 {
		t.Fatalf("stored %+v, want the 8 small appends only", stats)
	}
}

// TestFileDeleted: a store whose file is deleted underneath refuses
// writes with a clear error instead of writing into the deleted file.
func TestFileDeleted(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gone.db")
	s, _ := openStoreT(t, path)
	if _, err := s.Append(ctx, "a", chronicle.NoStream, batchOf(5, "a")...); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	_, err := s.Append(ctx, "a", chronicle.Exactly(5), batchOf(5, "b")...)
	if !errors.Is(err, chronicle.ErrReadOnly) {
		t.Fatalf("append after the file was deleted: %v, want ErrReadOnly", err)
	}
	if err := s.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	// A new store can be made at the same path.
	s2, _ := openStoreT(t, path)
	if _, err := s2.Append(context.Background(), "a", chronicle.NoStream, batchOf(1, "c")...); err != nil {
		t.Fatal(err)
	}
}
