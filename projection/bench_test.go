package projection_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/jackc/pgx/v5"
)

// Benchmark sizes: the catch-up benchmarks replay benchEvents events spread
// over benchStreams streams (CHRONICLE_BENCH_EVENTS overrides the number).
const benchStreams = 1000

// benchSeq names the read models and projections of repeated runs.
var benchSeq atomic.Int64

func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("CHRONICLE_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// benchEnv opens a store for a benchmark: SQLite in a temporary file, or
// PostgreSQL in a fresh schema.
func benchEnv(b *testing.B, backend string) *env {
	b.Helper()
	ctx := context.Background()
	switch backend {
	case "sqlite":
		path := filepath.Join(b.TempDir(), "bench.db")
		s, err := sqlite.Open(ctx, path, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		db, _ := sqlite.DB(s)
		return &env{name: backend, store: s, db: db, path: path}
	default:
		url := os.Getenv("CHRONICLE_TEST_POSTGRES_URL")
		if url == "" {
			b.Skip("CHRONICLE_TEST_POSTGRES_URL is not set")
		}
		schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
		s, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema, MaxConns: 16})
		if err != nil {
			b.Fatal(err)
		}
		db, _ := postgres.DB(s)
		b.Cleanup(func() {
			_ = s.Close()
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				b.Errorf("drop schema: %v", err)
				return
			}
			defer conn.Close(context.Background())
			_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		})
		return &env{name: backend, store: s, db: db, schema: schema}
	}
}

// fill appends n events over benchStreams streams, 10 per append, the
// streams taking turns: a batch of 1,000 events spans 100 streams.
func fill(b *testing.B, e *env, n int) {
	b.Helper()
	ctx := context.Background()
	batch := make([]chronicle.EventData, 10)
	for i := 0; i < n; i += len(batch) {
		k := min(len(batch), n-i)
		for j := range k {
			batch[j] = chronicle.EventData{Type: "Deposited", Data: []byte(strconv.Itoa(1 + (i+j)%97))}
		}
		stream := "acct-" + strconv.Itoa((i/len(batch))%benchStreams)
		if _, err := e.store.Append(ctx, stream, chronicle.Any, batch[:k]...); err != nil {
			b.Fatal(err)
		}
	}
}

// upserter is the read model of the benchmarks: one row per stream with
// the number of its events and the sum of their amounts. With perBatch
// false it upserts once per event (a statement prepared per batch, as an
// application would write it); with perBatch true it folds the batch per
// stream first and upserts each stream once (on PostgreSQL in one
// statement), as an application that cares about catch-up speed would.
type upserter struct {
	e        *env
	table    string
	perBatch bool
}

func (u *upserter) create(b *testing.B) {
	if _, err := u.e.db.ExecContext(context.Background(), "CREATE TABLE "+u.table+" (stream TEXT PRIMARY KEY, n BIGINT NOT NULL, total BIGINT NOT NULL)"); err != nil {
		b.Fatal(err)
	}
}

func (u *upserter) apply(ctx context.Context, tx *sql.Tx, events []chronicle.Event) error {
	if u.perBatch {
		return u.applyFolded(ctx, tx, events)
	}
	q := u.e.q("INSERT INTO " + u.table + " (stream, n, total) VALUES (?, 1, ?) " +
		"ON CONFLICT (stream) DO UPDATE SET n = " + u.table + ".n + 1, total = " + u.table + ".total + excluded.total")
	exec := func(args ...any) error { _, err := tx.ExecContext(ctx, q, args...); return err }
	if len(events) > 4 {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		exec = func(args ...any) error { _, err := st.ExecContext(ctx, args...); return err }
	}
	for _, ev := range events {
		amount, _ := strconv.ParseInt(string(ev.Data), 10, 64)
		if err := exec(ev.Stream, amount); err != nil {
			return err
		}
	}
	return nil
}

// queue is the Exec handler's version of apply: one upsert per event.
func (u *upserter) queue(stmts *projection.Statements, events []chronicle.Event) {
	q := u.e.q("INSERT INTO " + u.table + " (stream, n, total) VALUES (?, 1, ?) " +
		"ON CONFLICT (stream) DO UPDATE SET n = " + u.table + ".n + 1, total = " + u.table + ".total + excluded.total")
	for _, ev := range events {
		amount, _ := strconv.ParseInt(string(ev.Data), 10, 64)
		stmts.Add(q, ev.Stream, amount)
	}
}

func (u *upserter) applyFolded(ctx context.Context, tx *sql.Tx, events []chronicle.Event) error {
	type acc struct{ n, total int64 }
	sums := map[string]*acc{}
	var streams []string
	for _, ev := range events {
		a := sums[ev.Stream]
		if a == nil {
			a = &acc{}
			sums[ev.Stream] = a
			streams = append(streams, ev.Stream)
		}
		amount, _ := strconv.ParseInt(string(ev.Data), 10, 64)
		a.n++
		a.total += amount
	}
	set := " ON CONFLICT (stream) DO UPDATE SET n = " + u.table + ".n + excluded.n, total = " + u.table + ".total + excluded.total"
	if u.e.schema != "" {
		ns, totals := make([]int64, len(streams)), make([]int64, len(streams))
		for i, s := range streams {
			ns[i], totals[i] = sums[s].n, sums[s].total
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO "+u.table+" (stream, n, total) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])"+set,
			streams, ns, totals)
		return err
	}
	for _, s := range streams {
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+u.table+" (stream, n, total) VALUES (?, ?, ?)"+set, s, sums[s].n, sums[s].total); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkCatchUp replays the whole store into fresh read models, twice
// per iteration, side by side: with the projection runner (exactly once),
// and, as the floor, with the same handler in transactions of the same size
// fed straight from ReadAllPage, without checkpoints, leases or any other
// machinery. It reports both rates in events/s and their ratio. "row"
// upserts once per event, "batch" once per stream and batch (see
// upserter).
func BenchmarkCatchUp(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			e := benchEnv(b, backend)
			n := benchEvents()
			fill(b, e, n)
			for _, perBatch := range []bool{false, true} {
				name := map[bool]string{false: "row", true: "batch"}[perBatch]
				b.Run(name, func(b *testing.B) {
					b.StopTimer()
					var runner, floor float64
					for range b.N {
						runner += float64(n) / catchUpRunner(b, e, perBatch).Seconds()
						floor += float64(n) / catchUpFloor(b, e, perBatch).Seconds()
					}
					b.ReportMetric(runner/float64(b.N), "runner-events/s")
					b.ReportMetric(floor/float64(b.N), "floor-events/s")
					b.ReportMetric(runner/floor, "runner/floor")
				})
			}
		})
	}
}

// catchUpRunner replays the store with a new projection and returns how
// long it took to reach the head.
func catchUpRunner(b *testing.B, e *env, perBatch bool) time.Duration {
	i := benchSeq.Add(1)
	u := &upserter{e: e, table: e.table(fmt.Sprintf("rm_runner_%d", i)), perBatch: perBatch}
	u.create(b)
	name := fmt.Sprintf("bench-%d", i)
	r, err := projection.New(e.store, &projection.Options{Logger: slog.New(slog.DiscardHandler)}, projection.Projection{
		Name: name, Version: 1,
		SQL: func(ctx context.Context, tx *sql.Tx, bt projection.Batch) error { return u.apply(ctx, tx, bt.Events) },
	})
	if err != nil {
		b.Fatal(err)
	}
	head, err := e.store.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	t0 := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	if err := r.WaitFor(context.Background(), head, name); err != nil {
		b.Fatal(err)
	}
	el := time.Since(t0)
	b.StopTimer()
	cancel()
	<-done
	return el
}

// catchUpFloor replays the store with the same handler and batch size,
// without the runner.
func catchUpFloor(b *testing.B, e *env, perBatch bool) time.Duration {
	u := &upserter{e: e, table: e.table(fmt.Sprintf("rm_floor_%d", benchSeq.Add(1))), perBatch: perBatch}
	u.create(b)
	ctx := context.Background()
	b.StartTimer()
	t0 := time.Now()
	var from chronicle.Position
	for {
		page, err := e.store.ReadAllPage(ctx, from, projection.DefaultBatchSize, nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Events) > 0 {
			tx, err := e.db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := u.apply(ctx, tx, page.Events); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		from = page.Next
		if !page.Full {
			break
		}
	}
	el := time.Since(t0)
	b.StopTimer()
	return el
}

// BenchmarkLive measures append → committed by every projection, with 10
// projections running: each iteration appends one event and waits until
// all ten have committed it. Reports p50 and p99 in µs.
func BenchmarkLive(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, kind := range []string{"sql", "exec"} {
			b.Run(backend+"/"+kind, func(b *testing.B) { benchLive(b, backend, kind) })
		}
	}
}

// benchLive measures append → committed by ten projections whose handlers
// are SQL handlers (kind "sql") or Exec handlers ("exec").
func benchLive(b *testing.B, backend, kind string) {
	e := benchEnv(b, backend)
	fill(b, e, 10_000)
	var ps []projection.Projection
	for i := range 10 {
		u := &upserter{e: e, table: e.table(fmt.Sprintf("rm_live_%d", i))}
		u.create(b)
		p := projection.Projection{Name: fmt.Sprintf("live-%d", i), Version: 1}
		if kind == "sql" {
			p.SQL = func(ctx context.Context, tx *sql.Tx, bt projection.Batch) error { return u.apply(ctx, tx, bt.Events) }
		} else {
			p.Exec = func(ctx context.Context, stmts *projection.Statements, bt projection.Batch) error {
				u.queue(stmts, bt.Events)
				return nil
			}
		}
		ps = append(ps, p)
	}
	r, err := projection.New(e.store, &projection.Options{Logger: slog.New(slog.DiscardHandler)}, ps...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	head, err := e.store.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.WaitFor(ctx, head); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		res, err := e.store.Append(ctx, "acct-"+strconv.Itoa(i%benchStreams), chronicle.Any,
			chronicle.EventData{Type: "Deposited", Data: []byte("5")})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.WaitFor(ctx, res.Positions[0]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
