package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/storetest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestOpenInvalid: bad options and connection strings fail with
// ErrInvalid before connecting; an unreachable server fails within the
// context's deadline.
func TestOpenInvalid(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		url  string
		opts *postgres.Options
	}{
		{"schema with a capital", "postgres://127.0.0.1/x", &postgres.Options{Schema: "Events"}},
		{"schema with a quote", "postgres://127.0.0.1/x", &postgres.Options{Schema: `a"b`}},
		{"schema starting with a digit", "postgres://127.0.0.1/x", &postgres.Options{Schema: "1a"}},
		{"schema too long", "postgres://127.0.0.1/x", &postgres.Options{Schema: "a23456789012345678901234567890123456789012345678901234"}},
		{"negative pool", "postgres://127.0.0.1/x", &postgres.Options{MaxConns: -1}},
		{"poll interval too short", "postgres://127.0.0.1/x", &postgres.Options{PollInterval: time.Microsecond}},
		{"negative visibility wait", "postgres://127.0.0.1/x", &postgres.Options{VisibilityWait: -time.Second}},
		{"connection string", "postgres://127.0.0.1:notaport/x", nil},
		{"replica connection string", "postgres://127.0.0.1/x", &postgres.Options{ReplicaURL: "postgres://127.0.0.1:notaport/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(ctx, tc.url, tc.opts)
			if !errors.Is(err, chronicle.ErrInvalid) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Open = %v, want ErrInvalid", err)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/x?connect_timeout=1", nil)
		if err == nil {
			s.Close()
			t.Fatal("Open of a closed port succeeded")
		}
	})
}

// TestOpenPool: a store on the caller's pool works and leaves the pool
// open when it closes.
func TestOpenPool(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	s, err := postgres.OpenPool(ctx, pool, &postgres.Options{Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "p", 3)
	if got := readAllT(t, s, chronicle.Position{}); len(got) != 3 {
		t.Fatalf("ReadAll returned %d events, want 3", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("the caller's pool after Close: %v", err)
	}
}

// TestMigrations: stores opening a new schema at once all succeed (the
// migration runs once, under a lock); reopening keeps the data; a schema
// from a newer version is refused with ErrIncompatible and left alone.
func TestMigrations(t *testing.T) {
	schema := testSchema(t)
	url := testURL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	stores := make([]*chronicle.Store, 4)
	for i := range stores {
		wg.Go(func() {
			s, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema, MaxConns: 2})
			if err != nil {
				t.Errorf("concurrent Open: %v", err)
				return
			}
			stores[i] = s
		})
	}
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			mustAppend(t, s, "m", i+1)
			s.Close()
		}
	}
	if t.Failed() {
		return
	}
	s := openT(t, &postgres.Options{Schema: schema})
	if info, err := s.StreamInfo(ctx, "m"); err != nil || info.Version != 10 {
		t.Fatalf("after reopening: %+v, %v; want version 10", info, err)
	}
	// The events were written by the other stores: the global stream shows
	// them once every transaction that started before them has ended, in
	// the whole cluster (other tests' transactions too).
	for deadline := time.Now().Add(10 * time.Second); len(readAllT(t, s, chronicle.Position{})) < 10; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the global stream does not show the 10 events after 10s")
		}
	}
	storetest.CheckInvariants(t, s)

	newer := postgres.SchemaVersion() + 1
	if _, err := testPool(t).Exec(ctx, "UPDATE "+schema+".chronicle_schema SET version = $1", newer); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
	if !errors.Is(err, chronicle.ErrIncompatible) {
		t.Fatalf("Open of a schema at version %d = %v, want ErrIncompatible", newer, err)
	}
	var v int
	if err := testPool(t).QueryRow(ctx, "SELECT version FROM "+schema+".chronicle_schema").Scan(&v); err != nil || v != newer {
		t.Fatalf("schema version after the refused open: %d, %v; want %d untouched", v, err, newer)
	}
}

// TestOpenReplicaWithoutSchema: a replica that does not hold the store's
// schema (here another database of the same server: not a standby of the
// primary) is refused at Open with ErrIncompatible once VisibilityWait has
// passed, not at the first read.
func TestOpenReplicaWithoutSchema(t *testing.T) {
	u, err := url.Parse(testURL(t))
	if err != nil || u.Scheme == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_URL is not a URL: cannot name another database")
	}
	u.Path = "/postgres"
	if u.String() == testURL(t) {
		u.Path = "/template1"
	}
	schema := testSchema(t)
	start := time.Now()
	s, err := postgres.Open(context.Background(), testURL(t), &postgres.Options{
		Schema: schema, ReplicaURL: u.String(), VisibilityWait: 300 * time.Millisecond,
	})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded with a replica that has no schema")
	}
	if !errors.Is(err, chronicle.ErrIncompatible) {
		t.Fatalf("Open: %v, want ErrIncompatible", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("Open gave up after %v, before VisibilityWait", took)
	}
	t.Log(err)
}

// TestSessionIsolation: sessions that default to REPEATABLE READ or
// SERIALIZABLE (set in the connection string, or in a caller's pool) do
// not change how appends behave: concurrent appends to one stream all
// succeed, a stale expectation is a conflict (not ErrBusy), and stores
// opening a fresh schema at once all open it.
func TestSessionIsolation(t *testing.T) {
	u, err := url.Parse(testURL(t))
	if err != nil || u.Scheme == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_URL is not a URL: cannot add parameters")
	}
	for _, level := range []string{"repeatable read", "serializable"} {
		for _, via := range []string{"Open", "OpenPool"} {
			t.Run(via+"/"+level, func(t *testing.T) {
				ctx := context.Background()
				withLevel := *u
				if withLevel.RawQuery != "" {
					withLevel.RawQuery += "&"
				}
				// %20, not the + of url.Values: pgx reads + as itself.
				withLevel.RawQuery += "default_transaction_isolation=" + url.PathEscape(level)
				schema := testSchema(t)
				open := func() (*chronicle.Store, error) {
					o := &postgres.Options{Schema: schema, MaxConns: 8}
					if via == "Open" {
						return postgres.Open(ctx, withLevel.String(), o)
					}
					pool, err := pgxpool.New(ctx, withLevel.String())
					if err != nil {
						return nil, err
					}
					t.Cleanup(pool.Close)
					return postgres.OpenPool(ctx, pool, o)
				}
				stores := make([]*chronicle.Store, 4)
				errs := make([]error, len(stores))
				var wg sync.WaitGroup
				for i := range stores {
					wg.Go(func() { stores[i], errs[i] = open() })
				}
				wg.Wait()
				for i, s := range stores {
					if errs[i] != nil {
						t.Fatalf("concurrent open %d: %v", i, errs[i])
					}
					t.Cleanup(func() { s.Close() })
				}
				s := stores[0]
				var failed atomic.Int64
				for w := range 8 {
					wg.Go(func() {
						for range 25 {
							if _, err := s.Append(ctx, "hot", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
								if failed.Add(1) == 1 {
									t.Errorf("writer %d: %v", w, err)
								}
							}
						}
					})
				}
				wg.Wait()
				if n := failed.Load(); n > 0 {
					t.Fatalf("%d of 200 appends failed", n)
				}
				_, err := s.Append(ctx, "hot", chronicle.Exactly(1), chronicle.EventData{Type: "E"})
				if !errors.Is(err, chronicle.ErrConflict) {
					t.Fatalf("stale expectation: %v, want ErrConflict", err)
				}
				info, err := s.StreamInfo(ctx, "hot")
				if err != nil || info.Version != 200 {
					t.Fatalf("StreamInfo = %+v, %v; want version 200", info, err)
				}
			})
		}
	}
}

// TestNoCreate: with Options.NoCreate, Open refuses a schema without a
// store with ErrNoStore and creates nothing; it opens one that has a store.
func TestNoCreate(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	s, err := postgres.Open(ctx, testURL(t), &postgres.Options{Schema: schema, NoCreate: true})
	if !errors.Is(err, chronicle.ErrNoStore) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open of a missing schema = %v, want ErrNoStore", err)
	}
	var exists bool
	if err := testPool(t).QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("Open with NoCreate created the schema")
	}
	s = openT(t, &postgres.Options{Schema: schema})
	if _, err := s.Append(ctx, "a", chronicle.Any, chronicle.EventData{Type: "t"}); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, &postgres.Options{Schema: schema, NoCreate: true})
	if info, err := s2.StreamInfo(ctx, "a"); err != nil || info.Version != 1 {
		t.Fatalf("StreamInfo = %+v, %v; want version 1", info, err)
	}
}
