package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

// TestDBWaitsForWriter checks that a write transaction of DB waits (up to
// the busy timeout, or until its context ends) while the store's writer
// holds the write lock, and that an append waits for a write transaction of
// DB in turn.
func TestDBWaitsForWriter(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "events.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.Backend().(*Backend)
	db := b.DB()
	if _, err := db.ExecContext(ctx, "CREATE TABLE rm (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	const hold = 300 * time.Millisecond

	// The store's writer holds the lock; DB's transaction waits for it.
	b.wmu.Lock()
	if err := b.writer.exec("BEGIN IMMEDIATE"); err != nil {
		b.wmu.Unlock()
		t.Fatal(err)
	}
	// A transaction whose context ends stops waiting.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	start := time.Now()
	_, err = db.BeginTx(short, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("BeginTx with a context that ends while waiting: %v, want context.DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("BeginTx gave up after %v, its context ended after 100ms", waited)
	}
	released := make(chan error, 1)
	go func() {
		time.Sleep(hold)
		err := b.writer.exec("COMMIT")
		b.wmu.Unlock()
		released <- err
	}()
	start = time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("BeginTx while the store writes: %v", err)
	}
	if waited := time.Since(start); waited < hold/2 {
		t.Errorf("BeginTx returned after %v, while the store's writer held the lock for %v", waited, hold)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO rm VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	// DB's transaction holds the lock; an append waits for it.
	appended := make(chan error, 1)
	start = time.Now()
	go func() {
		_, err := s.Append(ctx, "s", chronicle.NoStream, chronicle.EventData{Type: "T"})
		appended <- err
	}()
	time.Sleep(hold)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-appended; err != nil {
		t.Fatalf("Append while DB's transaction wrote: %v", err)
	}
	if waited := time.Since(start); waited < hold/2 {
		t.Errorf("Append returned after %v, while DB's transaction held the lock for %v", waited, hold)
	}
}
