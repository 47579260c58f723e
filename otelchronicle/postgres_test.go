package otelchronicle_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
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
// long as it runs.
func TestPostgresFrontierAge(t *testing.T) {
	b := setup(t)
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
	if _, err := tx.Exec(t.Context(), "SELECT pg_current_xact_id()"); err != nil { // takes a transaction ID
		t.Fatal(err)
	}
	// A commit after it, which the frontier holds back.
	if _, err := stores[0].Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "T"}); err != nil {
		t.Fatal(err)
	}
	age := func() float64 {
		for k, v := range points(t, b.metrics(t)["chronicle.frontier.age"]) {
			if strings.Contains(k, "db.system.name=postgresql") {
				return v
			}
		}
		return -1
	}
	deadline := time.Now().Add(10 * time.Second)
	for age() < 0.3 {
		if time.Now().After(deadline) {
			t.Fatalf("frontier age %vs after 10s of an open transaction", age())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
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
