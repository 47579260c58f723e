package otelchronicle_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/jackc/pgx/v5"
)

// pgStores opens n stores on one fresh schema of the database named by
// CHRONICLE_TEST_POSTGRES_URL, reporting to b, or skips the test.
func (b *bundle) pgStores(t *testing.T, n int) ([]*chronicle.Store, string) {
	t.Helper()
	url := os.Getenv("CHRONICLE_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_URL is not set: no PostgreSQL to test against")
	}
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	var stores []*chronicle.Store
	for range n {
		s, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema, MaxConns: 4,
			PollInterval: 10 * time.Millisecond, Hooks: b.hooks})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores = append(stores, s)
	}
	return stores, url
}

// TestPostgresFrontierAge: a transaction that holds the visibility
// frontier back from a later commit shows in chronicle.frontier.age, as
// long as it runs. The cluster is shared with other tests, whose
// transactions may hold the frontier too: the test checks that the age
// reported is the one of its own transaction's ID.
func TestPostgresFrontierAge(t *testing.T) {
	b := setup(t)
	// Watch the raw reports beside the metric: under mu, the last one and
	// the metric's value are those of the same report.
	var mu sync.Mutex
	var last chronicle.FrontierInfo
	otel := b.hooks
	wrapped := *otel
	wrapped.ForStore = func(info chronicle.StoreInfo) *chronicle.Hooks {
		h := *otel.ForStore(info)
		inner := h.Frontier
		h.Frontier = func(fi chronicle.FrontierInfo) {
			mu.Lock()
			defer mu.Unlock()
			inner(fi)
			last = fi
		}
		return &h
	}
	b.hooks = &wrapped
	stores, url := b.pgStores(t, 1)
	if _, err := stores[0].Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "T"}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var xid uint64
	if err := tx.QueryRow(t.Context(), "SELECT pg_current_xact_id()::text::bigint").Scan(&xid); err != nil { // takes a transaction ID
		t.Fatal(err)
	}
	// A commit after it, which the frontier holds back.
	if _, err := stores[0].Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "T"}); err != nil {
		t.Fatal(err)
	}
	// age returns the metric's value and the report it came from.
	age := func() (float64, chronicle.FrontierInfo) {
		mu.Lock()
		defer mu.Unlock()
		for k, v := range points(t, b.metrics(t)["chronicle.frontier.age"]) {
			if strings.Contains(k, "db.system.name=postgresql") {
				return v, last
			}
		}
		return -1, last
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, fi := age()
		if fi.Frontier == xid && fi.Held && v >= 0.3 && v == fi.Age.Seconds() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frontier age %vs (last report %+v) after 10s of an open transaction %d", v, fi, xid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Then the frontier moves past it.
	for {
		if _, fi := age(); fi.Frontier > xid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the frontier stayed at %d after its transaction ended", xid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPostgresNotificationDelay: a store hears another's commit through
// LISTEN/NOTIFY and reports how long after the commit it did.
func TestPostgresNotificationDelay(t *testing.T) {
	b := setup(t)
	stores, _ := b.pgStores(t, 2)
	heard := func() (n, sum float64) {
		m := b.metrics(t)["chronicle.notification.delay"]
		for k, v := range points(t, m) {
			n += v
			sum += histSum[float64](t, m, k)
		}
		return n, sum
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := stores[0].Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "T"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if n, sum := heard(); n > 0 {
			if sum < 0 || sum/n > 5 {
				t.Errorf("%v notifications took %vs in all", n, sum)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no notification delay reported after 10s of appends")
		}
	}
	// The metrics carry the database and schema.
	for k := range points(t, b.metrics(t)["chronicle.append.duration"]) {
		if !strings.Contains(k, "db.namespace=") || !strings.Contains(k, "|t_") {
			t.Errorf("append metric attributes %s lack the database|schema namespace", k)
		}
	}
}
