package postgres_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// tripKey marks the contexts whose round trips a tripCounter counts.
type tripKey struct{}

// tripCounter counts the queries and batches sent with a context marked by
// tripKey: each is one round trip to the server.
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) count(ctx context.Context) {
	if ctx.Value(tripKey{}) != nil {
		c.n.Add(1)
	}
}

func (c *tripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.count(ctx)
	return ctx
}

func (c *tripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *tripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.count(ctx)
	return ctx
}

func (c *tripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *tripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestAppendRoundTrips: a fresh append and the retry of an append already
// stored (a full duplicate, whatever its expectation) are one round trip
// each, and the retry returns the positions of the first; a partial
// duplicate takes the careful path and returns old and new positions.
func TestAppendRoundTrips(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	trips := &tripCounter{}
	cfg.ConnConfig.Tracer = trips
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s, err := postgres.OpenPool(context.Background(), pool, &postgres.Options{Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	ctx := context.WithValue(context.Background(), tripKey{}, true)
	appendN := func(expect chronicle.Expectation, evs ...chronicle.EventData) (chronicle.AppendResult, int64) {
		t.Helper()
		before := trips.n.Load()
		res, err := s.Append(ctx, "trips", expect, evs...)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		return res, trips.n.Load() - before
	}
	a, b := chronicle.EventData{ID: "a", Type: "A"}, chronicle.EventData{ID: "b", Type: "B"}

	first, n := appendN(chronicle.NoStream, a, b)
	if first.Written != 2 || n != 1 {
		t.Fatalf("fresh append: %+v in %d round trips, want 2 written in 1", first, n)
	}
	for _, expect := range []chronicle.Expectation{chronicle.NoStream, chronicle.Exactly(2), chronicle.Exactly(9), chronicle.Any, chronicle.StreamExists} {
		res, n := appendN(expect, a, b)
		if res.Version != 2 || res.Written != 0 || !slices.Equal(res.Positions, first.Positions) || n != 1 {
			t.Fatalf("retry with %v: %+v in %d round trips; want version 2, nothing written, positions %v, in 1", expect, res, n, first.Positions)
		}
	}
	res, n := appendN(chronicle.Any, b)
	if res.Version != 2 || res.Written != 0 || res.Positions[0] != first.Positions[1] || n != 1 {
		t.Fatalf("retry of b: %+v in %d round trips; want nothing written, b at %v, in 1", res, n, first.Positions[1])
	}

	res, _ = appendN(chronicle.Exactly(2), b, chronicle.EventData{ID: "c", Type: "C"}, a)
	if res.Version != 3 || res.Written != 1 || len(res.Positions) != 3 || res.Positions[0] != first.Positions[1] ||
		res.Positions[2] != first.Positions[0] || !first.Positions[1].Before(res.Positions[1]) {
		t.Fatalf("partial duplicate: %+v; want version 3, one written, b and a at %v", res, first.Positions)
	}
	evs := readAllT(t, s, chronicle.Position{})
	if len(evs) != 3 || evs[2].ID != "c" || evs[2].Position != res.Positions[1] {
		t.Fatalf("the global stream holds %d events, last %+v; want c at %v", len(evs), evs[len(evs)-1], res.Positions[1])
	}
}
