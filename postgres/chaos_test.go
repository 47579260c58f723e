package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// chaosDuration is how long TestChaos writes: 30 s, 5 s with -short, or
// CHRONICLE_TEST_CHAOS_DURATION (a Go duration) for longer runs.
func chaosDuration(t *testing.T) time.Duration {
	if v := os.Getenv("CHRONICLE_TEST_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CHRONICLE_TEST_CHAOS_DURATION: %v", err)
		}
		return d
	}
	if testing.Short() {
		return 5 * time.Second
	}
	return 30 * time.Second
}

// TestChaos: 32 writers append batches of random size to 8 shared streams;
// half through the store, half in their own transactions that wait a random
// time before committing and roll back one time in ten. Two subscribers on
// two stores must both see exactly the table, in order. A naive reader that
// follows the sequence number (seq > last), run alongside, must skip
// events: the bug this store's order prevents, which the test would catch.
func TestChaos(t *testing.T) {
	schema := testSchema(t)
	ctx := context.Background()
	a := openT(t, &postgres.Options{Schema: schema, MaxConns: 20, PollInterval: 20 * time.Millisecond})
	b := openT(t, &postgres.Options{Schema: schema, MaxConns: 4, PollInterval: 20 * time.Millisecond})
	subA := subscribe(t, a, chronicle.Position{})
	subB := subscribe(t, b, chronicle.Position{})
	cfg, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 20
	raw, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	stop := make(chan struct{})
	var committed, rolledBack, appends atomic.Int64
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for {
				select {
				case <-stop:
					return
				default:
				}
				stream := fmt.Sprint("chaos-", rng.IntN(8))
				n := 1 + rng.IntN(10)
				if w%2 == 0 {
					evs := make([]chronicle.EventData, n)
					for i := range evs {
						evs[i] = chronicle.EventData{Type: "Chaos"}
					}
					if _, err := a.Append(ctx, stream, chronicle.Any, evs...); err != nil {
						t.Errorf("append: %v", err)
						return
					}
					committed.Add(int64(n))
					appends.Add(1)
					continue
				}
				err := pgx.BeginFunc(ctx, raw, func(tx pgx.Tx) error {
					if err := rawAppend(ctx, tx, schema, stream, n); err != nil {
						return err
					}
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					if rng.IntN(10) == 0 {
						return errRollback
					}
					return nil
				})
				switch err {
				case nil:
					committed.Add(int64(n))
					appends.Add(1)
				case errRollback:
					rolledBack.Add(1)
				default:
					t.Errorf("raw append: %v", err)
					return
				}
			}
		})
	}

	// The naive reader: what a subscriber following a plain sequence sees.
	naiveSeen := make(map[[2]int64]bool)
	naiveDone := make(chan struct{})
	naiveRead := func(last int64) int64 {
		rows, err := raw.Query(ctx, "SELECT tx_id, seq FROM "+schema+".events WHERE seq > $1 ORDER BY seq LIMIT 10000", last)
		if err != nil {
			t.Error(err)
			return last
		}
		var tx, seq int64
		_, err = pgx.ForEachRow(rows, []any{&tx, &seq}, func() error {
			naiveSeen[[2]int64{tx, seq}] = true
			last = max(last, seq)
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		return last
	}
	var naiveLast int64
	go func() {
		defer close(naiveDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			naiveLast = naiveRead(naiveLast)
		}
	}()

	time.Sleep(chaosDuration(t))
	close(stop)
	wg.Wait()
	<-naiveDone
	naiveLast = naiveRead(naiveLast)
	if t.Failed() {
		return
	}

	table := tableOrder(t, schema)
	if int64(len(table)) != committed.Load() {
		t.Fatalf("the table holds %d events, writers committed %d", len(table), committed.Load())
	}
	gotA, _ := subA.waitFor(t, len(table), time.Minute)
	gotB, _ := subB.waitFor(t, len(table), time.Minute)
	checkDelivered(t, "subscriber on the writing store", gotA, table)
	checkDelivered(t, "subscriber on another store", gotB, table)
	skipped := 0
	for _, p := range table {
		if !naiveSeen[[2]int64{int64(p.Commit), int64(p.Prepare)}] {
			skipped++
		}
	}
	t.Logf("%d appends, %d events committed, %d rolled back; both subscribers got all %d in order; "+
		"the naive seq > last reader skipped %d (%.1f%%)",
		appends.Load(), committed.Load(), rolledBack.Load(), len(table), skipped, 100*float64(skipped)/float64(len(table)))
	if skipped == 0 {
		t.Fatal("the naive reader skipped nothing: this run could not have caught an ordering bug")
	}
}

var errRollback = fmt.Errorf("roll back")
