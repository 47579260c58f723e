package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// testURL returns the PostgreSQL to test against, from
// CHRONICLE_TEST_POSTGRES_URL, or skips the test.
func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("CHRONICLE_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_URL is not set: no PostgreSQL to test against " +
			"(e.g. CHRONICLE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test)")
	}
	return url
}

// testReplicaURL returns a hot standby of the test cluster, from
// CHRONICLE_TEST_POSTGRES_REPLICA_URL, or skips the test.
func testReplicaURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("CHRONICLE_TEST_POSTGRES_REPLICA_URL")
	if url == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_REPLICA_URL is not set: no hot standby to test against " +
			"(.ci/standby starts one on 127.0.0.1:5433; then " +
			"CHRONICLE_TEST_POSTGRES_REPLICA_URL=postgres://postgres@127.0.0.1:5433/test)")
	}
	return url
}

// testSchema returns a fresh schema name, dropped when the test ends.
func testSchema(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	url := testURL(t)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return schema
}

// openT opens a store on a fresh schema (unless opts names one) and closes
// it when the test ends.
func openT(t testing.TB, opts *postgres.Options) *chronicle.Store {
	t.Helper()
	o := postgres.Options{MaxConns: 4}
	if opts != nil {
		o = *opts
	}
	if o.Schema == "" {
		o.Schema = testSchema(t)
	}
	s, err := postgres.Open(context.Background(), testURL(t), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// testPool returns a pool on the test database, closed when the test ends.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}
