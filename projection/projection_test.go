package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/projection"
)

// fast are options for tests: short leases and retries.
func fast() *projection.Options {
	return &projection.Options{
		Logger:   slog.New(slog.DiscardHandler),
		LeaseTTL: 300 * time.Millisecond,
		Retry:    projection.RetryPolicy{Attempts: 3, Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond},
	}
}

func TestCatchUpThenLiveExactlyOnce(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "bal"}
		m.create(t, 1)
		appendN(t, e.store, "acct", 10, 500, "Deposited")
		opts := fast()
		opts.BatchSize = 64
		r := newRunner(t, e.store, opts, projection.Projection{Name: "balances", Version: 1, SQL: m.handle})
		start(t, r)
		last := appendN(t, e.store, "acct", 10, 50, "Deposited")
		waitFor(t, r, last, "balances")
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
		m.checkOnce(t, 1, 550)
		// Live: each append is visible once WaitFor returns.
		for i := range 20 {
			res, err := e.store.Append(context.Background(), "acct-live", chronicle.Any, chronicle.EventData{Type: "Deposited", Data: []byte("7")})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, r, res.Positions[0], "balances")
			if got := m.rows(t, 1)["acct-live"]; got != fmt.Sprintf("%d/%d", i+1, 7*(i+1)) {
				t.Fatalf("after append %d: acct-live = %q", i+1, got)
			}
		}
		st := status(t, r, "balances", 1)
		if st.State != projection.Live || st.Stage != projection.Active || !st.CaughtUp || st.LagEvents != 0 || st.Owner != r.Owner() {
			t.Fatalf("status %+v", st)
		}
	})
}

func TestRestartResumesFromCheckpoint(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "bal"}
		m.create(t, 1)
		p := projection.Projection{Name: "balances", Version: 1, SQL: m.handle}
		last := appendN(t, e.store, "acct", 5, 200, "Deposited")
		for round := range 3 {
			r := newRunner(t, e.store, fast(), p)
			stop := start(t, r)
			waitFor(t, r, last)
			stop()
			last = appendN(t, e.store, "acct", 5, 100, "Deposited")
			_ = round
		}
		r := newRunner(t, e.store, fast(), p)
		start(t, r)
		waitFor(t, r, last)
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
		m.checkOnce(t, 1, 500)
	})
}

func TestFiltersAndIsolation(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		orders := &balances{e: e, table: "orders"}
		orders.create(t, 1)
		refunds := &balances{e: e, table: "refunds"}
		refunds.create(t, 1)
		broken := &balances{e: e, table: "broken", fail: func(chronicle.Event) bool { return true }}
		broken.create(t, 1)
		appendN(t, e.store, "order", 4, 40, "Placed")
		appendN(t, e.store, "refund", 3, 30, "Refunded")
		opts := fast()
		opts.OnFailure = projection.Stop
		ordersF := chronicle.Filter{chronicle.StreamPrefix("order-")}
		refundsF := chronicle.Filter{chronicle.TypeIs("Refunded")}
		r := newRunner(t, e.store, opts,
			projection.Projection{Name: "orders", Version: 1, Filter: ordersF, SQL: orders.handle},
			projection.Projection{Name: "refunds", Version: 1, Filter: refundsF, SQL: refunds.handle},
			projection.Projection{Name: "broken", Version: 1, SQL: broken.handle},
		)
		start(t, r)
		last := appendN(t, e.store, "order", 4, 8, "Placed")
		waitFor(t, r, last, "orders", "refunds")
		if got, want := orders.rows(t, 1), expected(t, e.store, ordersF, nil); !maps.Equal(got, want) {
			t.Fatalf("orders %v, want %v", got, want)
		}
		if got, want := refunds.rows(t, 1), expected(t, e.store, refundsF, nil); !maps.Equal(got, want) {
			t.Fatalf("refunds %v, want %v", got, want)
		}
		orders.checkOnce(t, 1, 48)
		refunds.checkOnce(t, 1, 30)
		// The broken projection failed while replaying; the others flow on.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.WaitFor(ctx, last, "broken"); !errors.Is(err, projection.ErrFailed) {
			t.Fatalf("WaitFor(broken) = %v, want ErrFailed", err)
		}
		if st := status(t, r, "broken", 1); st.State != projection.Failed || !strings.Contains(st.Error, "poison") {
			t.Fatalf("broken status %+v", st)
		}
		last = appendN(t, e.store, "refund", 3, 3, "Refunded")
		waitFor(t, r, last, "orders", "refunds")
		refunds.checkOnce(t, 1, 33)
	})
}

func TestPoisonEventParksItsStream(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var poisoned atomic.Bool
		poisoned.Store(true)
		m := &balances{e: e, table: "bal", fail: func(ev chronicle.Event) bool { return ev.Type == "Poison" && poisoned.Load() }}
		m.create(t, 1)
		appendN(t, e.store, "acct", 3, 30, "Deposited")
		caught := make(chan struct{})
		opts := fast()
		opts.OnCaughtUp = func(string, int) { close(caught) }
		r := newRunner(t, e.store, opts, projection.Projection{Name: "balances", Version: 1, SQL: m.handle})
		start(t, r)
		<-caught
		ctx := context.Background()
		// A poison event in acct-1 while live, with other events around it.
		appendN(t, e.store, "acct", 3, 3, "Deposited")
		bad, err := e.store.Append(ctx, "acct-1", chronicle.Any, chronicle.EventData{ID: "bad-1", Type: "Poison", Data: []byte("1000")})
		if err != nil {
			t.Fatal(err)
		}
		held, err := e.store.Append(ctx, "acct-1", chronicle.Any, chronicle.EventData{ID: "held-1", Type: "Deposited", Data: []byte("5")})
		if err != nil {
			t.Fatal(err)
		}
		last := appendN(t, e.store, "other", 2, 4, "Deposited")
		waitFor(t, r, last, "balances")
		parked, err := r.Parked(ctx, "balances")
		if err != nil {
			t.Fatal(err)
		}
		if len(parked) != 1 || parked[0].Stream != "acct-1" || parked[0].EventID != "bad-1" || parked[0].Position != bad.Positions[0] ||
			parked[0].Attempts < 3 || !strings.Contains(parked[0].Error, "poison") {
			t.Fatalf("parked %+v", parked)
		}
		if st := status(t, r, "balances", 1); st.State != projection.Parked || st.ParkedStreams != 1 {
			t.Fatalf("status %+v", st)
		}
		// Other streams flowed; acct-1's events from the poison one are held.
		skipHeld := func(ev chronicle.Event) bool { return ev.Stream == "acct-1" && !ev.Position.Before(bad.Positions[0]) }
		if got, want := m.rows(t, 1), expected(t, e.store, nil, skipHeld); !maps.Equal(got, want) {
			t.Fatalf("while parked: %v, want %v", got, want)
		}
		// A retry that fails again keeps the stream parked.
		if err := r.Retry(ctx, "balances", "acct-1"); !errors.Is(err, errPoison) {
			t.Fatalf("Retry while still poisoned = %v", err)
		}
		if parked, _ := r.Parked(ctx, "balances"); len(parked) != 1 || parked[0].Attempts < 4 {
			t.Fatalf("after failed retry: %+v", parked)
		}
		// New events of the parked stream are held too.
		more, err := e.store.Append(ctx, "acct-1", chronicle.Any, chronicle.EventData{Type: "Deposited", Data: []byte("6")})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, r, more.Positions[0], "balances")
		// Fixed: the retry applies the poison event and everything held.
		poisoned.Store(false)
		if err := r.Retry(ctx, "balances", "acct-1"); err != nil {
			t.Fatalf("Retry: %v", err)
		}
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("after retry: %v, want %v", got, want)
		}
		m.checkOnce(t, 1, -1)
		if err := r.Retry(ctx, "balances", "acct-1"); !errors.Is(err, projection.ErrNotParked) {
			t.Fatalf("Retry of an unparked stream = %v", err)
		}
		_ = held

		// Skip: the poison event is left out, the rest applied.
		poisoned.Store(true)
		bad2, err := e.store.Append(ctx, "acct-2", chronicle.Any, chronicle.EventData{ID: "bad-2", Type: "Poison", Data: []byte("1000")})
		if err != nil {
			t.Fatal(err)
		}
		after, err := e.store.Append(ctx, "acct-2", chronicle.Any, chronicle.EventData{Type: "Deposited", Data: []byte("9")})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, r, after.Positions[0], "balances")
		if err := r.Skip(ctx, "balances", "acct-2"); err != nil {
			t.Fatalf("Skip: %v", err)
		}
		skipped := func(ev chronicle.Event) bool { return ev.ID == "bad-2" }
		if got, want := m.rows(t, 1), expected(t, e.store, nil, skipped); !maps.Equal(got, want) {
			t.Fatalf("after skip: %v, want %v", got, want)
		}
		log, err := r.Log(ctx, "balances")
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, l := range log {
			actions = append(actions, l.Action+":"+l.EventID)
		}
		want := []string{"parked:bad-1", "retried:bad-1", "parked:bad-2", "skipped:bad-2"}
		if strings.Join(actions, " ") != strings.Join(want, " ") {
			t.Fatalf("log %v, want %v", actions, want)
		}
		_ = bad2
	})
}

func TestBlueGreenRebuild(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "bal"}
		m.create(t, 1)
		m.create(t, 2)
		appendN(t, e.store, "acct", 7, 300, "Deposited")
		v1 := projection.Projection{Name: "balances", Version: 1, SQL: m.handle}
		r1 := newRunner(t, e.store, fast(), v1)
		stop1 := start(t, r1)
		last := appendN(t, e.store, "acct", 7, 10, "Deposited")
		waitFor(t, r1, last)
		stop1()

		// Version 2 builds beside version 1, which keeps serving. Its
		// batches are small and slow, so the build takes a while.
		slow := func(ctx context.Context, tx *sql.Tx, b projection.Batch) error {
			if b.Version == 2 && b.Replaying {
				time.Sleep(40 * time.Millisecond)
			}
			return m.handle(ctx, tx, b)
		}
		caught := make(chan int, 4)
		opts := fast()
		opts.BatchSize = 10
		opts.OnCaughtUp = func(_ string, v int) { caught <- v }
		r2 := newRunner(t, e.store, opts, projection.Projection{Name: "balances", Version: 2, SQL: slow})
		start(t, r2)
		// At once, while v2's replay (32 batches of 40 ms) runs: later, a
		// loaded machine may have let it finish.
		eventually(t, "v2 registered", func() bool {
			sts, err := r2.Status(context.Background())
			_, ok := pickStatus(sts, "balances", 2)
			return err == nil && ok
		})
		if st := status(t, r2, "balances", 2); st.Stage != projection.Building || st.CaughtUp {
			t.Fatalf("v2 status %+v", st)
		}
		if err := r2.Switch(context.Background(), "balances"); !errors.Is(err, projection.ErrNotCaughtUp) {
			t.Fatalf("Switch before caught up = %v", err)
		}
		last = appendN(t, e.store, "acct", 7, 5, "Deposited")
		waitFor(t, r2, last) // the active version, 1, serves
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("v1 while v2 builds: %v, want %v", got, want)
		}
		if v := <-caught; v != 2 {
			t.Fatalf("caught up: version %d", v)
		}
		if err := r2.Switch(context.Background(), "balances"); err != nil {
			t.Fatal(err)
		}
		last = appendN(t, e.store, "acct", 7, 5, "Deposited")
		waitFor(t, r2, last)
		if got, want := m.rows(t, 2), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("v2 after switch: %v, want %v", got, want)
		}
		m.checkOnce(t, 2, 320)
		eventually(t, "v1 retired", func() bool {
			st := status(t, r2, "balances", 1)
			return st.Stage == projection.Retired && st.State == projection.Stopped
		})
		// Version 1 stopped at the switch.
		if got := m.rows(t, 1); maps.Equal(got, expected(t, e.store, nil, nil)) {
			t.Fatalf("v1 kept running after the switch")
		}
		// The old code can no longer run against this store.
		r3 := newRunner(t, e.store, fast(), v1)
		if err := r3.Run(context.Background()); !errors.Is(err, chronicle.ErrInvalid) {
			t.Fatalf("Run of a retired version = %v", err)
		}
	})
}

func TestWaitForEndsWithContext(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		release := make(chan struct{})
		var calls atomic.Int64
		h := func(ctx context.Context, tx *sql.Tx, b projection.Batch) error {
			calls.Add(1)
			<-release
			return nil
		}
		r := newRunner(t, e.store, fast(), projection.Projection{Name: "slow", Version: 1, SQL: h})
		start(t, r)
		last := appendN(t, e.store, "s", 1, 1, "E")
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := r.WaitFor(ctx, last, "slow"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFor before the commit = %v", err)
		}
		close(release)
		waitFor(t, r, last, "slow")
		if err := r.WaitFor(context.Background(), last, "nope"); !errors.Is(err, projection.ErrUnknown) {
			t.Fatalf("WaitFor(unknown) = %v", err)
		}
	})
}

func TestPlainHandlerAtLeastOnce(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var mu sync.Mutex
		seen := map[string]int{}
		h := func(ctx context.Context, b projection.Batch) error {
			mu.Lock()
			defer mu.Unlock()
			for _, ev := range b.Events {
				seen[ev.ID]++
			}
			return nil
		}
		p := projection.Projection{Name: "mailer", Version: 1, Handle: h}
		last := appendN(t, e.store, "m", 3, 30, "Sent")
		r := newRunner(t, e.store, fast(), p)
		stop := start(t, r)
		waitFor(t, r, last)
		stop()
		last = appendN(t, e.store, "m", 3, 10, "Sent")
		r = newRunner(t, e.store, fast(), p)
		start(t, r)
		waitFor(t, r, last)
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 40 {
			t.Fatalf("%d events delivered, want 40", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("event %s delivered %d times without a crash", id, n)
			}
		}
	})
}

func TestCheckpointMustMatchTheStore(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "bal"}
		m.create(t, 1)
		p := projection.Projection{Name: "balances", Version: 1, SQL: m.handle}
		last := appendN(t, e.store, "a", 2, 20, "E")
		r := newRunner(t, e.store, fast(), p)
		stop := start(t, r)
		waitFor(t, r, last)
		stop()
		ctx := context.Background()
		table := "chronicle_projections"
		if e.schema != "" {
			table = e.schema + ".projections"
		}
		for _, tc := range []struct {
			name, set string
		}{
			{"another event at the position", "last_id = 'not-the-event'"},
			{"beyond the head", "pos_commit = pos_commit + 1000000, pos_prepare = pos_prepare + 1000000, last_id = ''"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tx, err := e.db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				var saved [4]any
				var a, b, c int64
				var d string
				if err := tx.QueryRowContext(ctx, "SELECT pos_commit, pos_prepare, last_commit, last_id FROM "+table).Scan(&a, &b, &c, &d); err != nil {
					t.Fatal(err)
				}
				saved = [4]any{a, b, c, d}
				if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET "+tc.set); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				r := newRunner(t, e.store, fast(), p)
				stop := start(t, r)
				eventually(t, "the projection to fail", func() bool { return status(t, r, "balances", 1).State == projection.Failed })
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				err = r.WaitFor(wctx, last)
				if !errors.Is(err, projection.ErrFailed) || !strings.Contains(err.Error(), "Reset") {
					t.Fatalf("WaitFor = %v, want ErrFailed saying to rebuild", err)
				}
				if st := status(t, r, "balances", 1); st.State != projection.Failed || !strings.Contains(st.Error, "checkpoint does not match") {
					t.Fatalf("status %+v", st)
				}
				stop()
				if _, err := e.db.ExecContext(ctx, e.q("UPDATE "+table+" SET pos_commit = ?, pos_prepare = ?, last_commit = ?, last_id = ?, failure = ''"),
					saved[0], saved[1], saved[2], saved[3]); err != nil {
					t.Fatal(err)
				}
			})
		}
		// Reset rebuilds from the start, clearing the read model first.
		p.Reset = func(ctx context.Context, tx *sql.Tx, name string, version int) error {
			_, err := tx.ExecContext(ctx, "DELETE FROM "+m.name(version))
			if err == nil {
				_, err = tx.ExecContext(ctx, "DELETE FROM "+m.applied(version))
			}
			return err
		}
		r = newRunner(t, e.store, fast(), p)
		start(t, r)
		waitFor(t, r, last)
		if err := r.Reset(ctx, "balances"); err != nil {
			t.Fatal(err)
		}
		last = appendN(t, e.store, "a", 2, 2, "E")
		waitFor(t, r, last)
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("after reset: %v, want %v", got, want)
		}
		m.checkOnce(t, 1, 22)
	})
}

func TestInvalidProjections(t *testing.T) {
	e := openSQLite(t)
	h := func(context.Context, *sql.Tx, projection.Batch) error { return nil }
	for _, tc := range []struct {
		name string
		p    []projection.Projection
		opts *projection.Options
	}{
		{"empty name", []projection.Projection{{Version: 1, SQL: h}}, nil},
		{"version 0", []projection.Projection{{Name: "a", SQL: h}}, nil},
		{"no handler", []projection.Projection{{Name: "a", Version: 1}}, nil},
		{"two handlers", []projection.Projection{{Name: "a", Version: 1, SQL: h, Handle: func(context.Context, projection.Batch) error { return nil }}}, nil},
		{"duplicate", []projection.Projection{{Name: "a", Version: 1, SQL: h}, {Name: "a", Version: 2, SQL: h}}, nil},
		{"bad filter", []projection.Projection{{Name: "a", Version: 1, SQL: h, Filter: chronicle.Filter{chronicle.StreamPrefix("")}}}, nil},
		{"negative batch", []projection.Projection{{Name: "a", Version: 1, SQL: h}}, &projection.Options{BatchSize: -1}},
		{"tiny lease", []projection.Projection{{Name: "a", Version: 1, SQL: h}}, &projection.Options{LeaseTTL: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := projection.New(e.store, tc.opts, tc.p...); !errors.Is(err, chronicle.ErrInvalid) {
				t.Fatalf("New = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestShutdownFinishesTheBatchInFlight cancels Run while a handler runs:
// Run returns only after that batch has committed, and a later runner
// goes on from there without applying it again.
func TestShutdownFinishesTheBatchInFlight(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "bal"}
		m.create(t, 1)
		entered := make(chan struct{})
		release := make(chan struct{})
		var once sync.Once
		h := func(ctx context.Context, tx *sql.Tx, b projection.Batch) error {
			once.Do(func() {
				close(entered)
				<-release
			})
			return m.handle(ctx, tx, b)
		}
		last := appendN(t, e.store, "acct", 3, 30, "Deposited")
		r := newRunner(t, e.store, fast(), projection.Projection{Name: "balances", Version: 1, SQL: h})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		<-entered
		cancel()
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) while a batch was in flight", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		m.checkOnce(t, 1, 30) // the batch in flight committed
		r = newRunner(t, e.store, fast(), projection.Projection{Name: "balances", Version: 1, SQL: m.handle})
		start(t, r)
		waitFor(t, r, last)
		m.checkOnce(t, 1, 30)
	})
}

// TestLiveProjectionsWithFilters: several live projections with different
// filters (which share each commit's read) follow appends from several
// goroutines; each applies exactly the events its filter selects, once,
// and WaitFor returns after every burst of appends.
func TestLiveProjectionsWithFilters(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		filters := []chronicle.Filter{
			nil,
			{chronicle.StreamPrefix("a-")},
			{chronicle.TypeIs("Refunded")},
			{chronicle.StreamPrefix("b-"), chronicle.TypeIs("Deposited")},
		}
		models := make([]*balances, len(filters))
		var ps []projection.Projection
		var names []string
		for i, f := range filters {
			m := &balances{e: e, table: fmt.Sprintf("live_%d", i)}
			m.create(t, 1)
			models[i] = m
			name := fmt.Sprintf("live-%d", i)
			names = append(names, name)
			ps = append(ps, projection.Projection{Name: name, Version: 1, Filter: f, SQL: m.handle})
		}
		r := newRunner(t, e.store, fast(), ps...)
		start(t, r)
		waitFor(t, r, appendN(t, e.store, "a", 2, 5, "Deposited"), names...)
		appendBursts(t, e, r, 5, 10, 3, names...)
		for i, f := range filters {
			want := expected(t, e.store, f, nil)
			if got := models[i].rows(t, 1); !maps.Equal(got, want) {
				t.Errorf("projection %d (filter %v): %v, want %v", i, f, got, want)
			}
			models[i].checkOnce(t, 1, count(want))
		}
	})
}
