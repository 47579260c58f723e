package postgres

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestReplayedWaitsForEveryWrite: a read on the replica waits for each of
// the store's writes, not only the newest: a write with a lower
// transaction ID may commit (and be replayed) after one with a higher ID.
// The primary stands in for the replica here; a transaction held open
// plays the write the replica has not replayed yet.
func TestReplayedWaitsForEveryWrite(t *testing.T) {
	url := os.Getenv("CHRONICLE_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_URL is not set: no PostgreSQL to test against")
	}
	ctx := context.Background()
	b, err := OpenBackend(ctx, url, &Options{Schema: "replayed_internal", ReplicaURL: url, DisableListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	t.Cleanup(func() { _, _ = b.pool.Exec(ctx, "DROP SCHEMA IF EXISTS replayed_internal CASCADE") })

	xidOf := func(tx pgx.Tx) uint64 {
		var x int64
		if err := tx.QueryRow(ctx, "SELECT pg_current_xact_id()::text::bigint").Scan(&x); err != nil {
			t.Fatal(err)
		}
		return uint64(x)
	}
	const hold = 300 * time.Millisecond
	older, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := xidOf(older)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		time.Sleep(hold)
		_ = older.Commit(ctx)
	}()
	defer func() { <-committed }()
	newer, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := xidOf(newer)
	if err := newer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b.wrote(c)
	b.wrote(a) // acknowledged, but not yet visible where reads go

	start := time.Now()
	if err := b.replayed(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < hold/2 {
		t.Fatalf("replayed returned after %v, before the older write (ID %d < %d) was visible", took, a, c)
	}
	if left := b.unreplayed.list(); len(left) != 0 {
		t.Fatalf("still waiting for %v", left)
	}
	// Nothing new: no wait, no query.
	start = time.Now()
	if err := b.replayed(ctx); err != nil || time.Since(start) > hold {
		t.Fatalf("second replayed: %v after %v", err, time.Since(start))
	}
}

// TestReplayedOnAHotStandby: on a real standby, a transaction that is
// still running there does not count as replayed, though a later one has
// committed (the standby's snapshot lists no running transactions, so its
// xmax alone says nothing), and it counts once its commit is replayed.
func TestReplayedOnAHotStandby(t *testing.T) {
	url, replica := os.Getenv("CHRONICLE_TEST_POSTGRES_URL"), os.Getenv("CHRONICLE_TEST_POSTGRES_REPLICA_URL")
	if url == "" || replica == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_URL and CHRONICLE_TEST_POSTGRES_REPLICA_URL are not both set: no hot standby to test against")
	}
	ctx := context.Background()
	const schema = "replayed_standby"
	b, err := OpenBackend(ctx, url, &Options{Schema: schema, ReplicaURL: replica, DisableListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	t.Cleanup(func() { _, _ = b.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	if _, err := b.pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+schema+".t (x int)"); err != nil {
		t.Fatal(err)
	}
	write := func(q pgxQuerier) int64 {
		var x int64
		if err := q.QueryRow(ctx, "INSERT INTO "+schema+".t VALUES (1) RETURNING pg_current_xact_id()::text::bigint").Scan(&x); err != nil {
			t.Fatal(err)
		}
		return x
	}
	ended := func(x int64) bool {
		var got []int64
		if err := b.read.QueryRow(ctx, replicaEndedSQL, []int64{x}).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return len(got) == 1 && got[0] == x
	}
	waitEnded := func(x int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ended(x); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("transaction %d not replayed after 10s", x)
			}
		}
	}
	held, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback(ctx)
	h := write(held)
	later := write(b.pool) // commits, and moves the standby's xmax past h
	waitEnded(later)
	if ended(h) {
		t.Fatalf("transaction %d counts as replayed while it runs", h)
	}
	if err := held.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitEnded(h)
}

// pgxQuerier is what write needs of a pool or a transaction.
type pgxQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
