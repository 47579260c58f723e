package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/projection"
)

// poison is a set of event IDs that the balances handler fails on.
type poison struct{ ids sync.Map }

func (p *poison) set(ids ...string) {
	p.ids.Clear()
	for _, id := range ids {
		p.ids.Store(id, true)
	}
}

func (p *poison) has(ev chronicle.Event) bool { _, ok := p.ids.Load(ev.ID); return ok }

// appendIDs appends one event per ID to stream and waits until the runner
// has examined them.
func appendIDs(t *testing.T, e *env, r *projection.Runner, stream string, ids ...string) chronicle.Position {
	t.Helper()
	var last chronicle.Position
	for _, id := range ids {
		res, err := e.store.Append(context.Background(), stream, chronicle.Any, chronicle.EventData{ID: id, Type: "Deposited", Data: []byte("3")})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Positions[0]
	}
	waitFor(t, r, last)
	return last
}

func projectionsTable(e *env) string {
	if e.schema != "" {
		return e.schema + ".projections"
	}
	return "chronicle_projections"
}

// TestRetryThenTakeoverAppliesOnce: the events held behind a parked stream
// are applied by Retry, and a runner that takes the projection over right
// after must not apply them again.
func TestRetryThenTakeoverAppliesOnce(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var bad poison
		m := &balances{e: e, table: "bal", fail: bad.has}
		m.create(t, 1)
		appendN(t, e.store, "acct", 2, 10, "Deposited")
		r := newRunner(t, e.store, fast(), projection.Projection{Name: "balances", Version: 1, SQL: m.handle})
		start(t, r)
		waitFor(t, r, appendN(t, e.store, "acct", 2, 1, "Deposited"))
		bad.set("bad")
		appendIDs(t, e, r, "held", "bad")
		appendIDs(t, e, r, "held", "h1", "h2") // pages of held events only
		bad.set()
		if err := r.Retry(context.Background(), "balances", "held"); err != nil {
			t.Fatal(err)
		}
		// Another runner takes over from the stored checkpoint.
		if _, err := e.db.ExecContext(context.Background(), "UPDATE "+projectionsTable(e)+" SET owner = 'someone-else', lease_until = 0"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, r, appendN(t, e.store, "acct", 2, 2, "Deposited"))
		eventually(t, "the runner to serve again", func() bool { return status(t, r, "balances", 1).Owner == r.Owner() })
		waitFor(t, r, appendN(t, e.store, "acct", 2, 2, "Deposited"))
		m.checkOnce(t, 1, -1)
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
	})
}

// TestResetByAnotherRunner: a Reset made by a runner that does not hold the
// projection reaches the one that does, even while it is idle.
func TestResetByAnotherRunner(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "bal"}
		m.create(t, 1)
		clear := func(ctx context.Context, tx *sql.Tx, name string, version int) error {
			return m.clear(ctx, tx, version)
		}
		p := projection.Projection{Name: "balances", Version: 1, SQL: m.handle, Reset: clear}
		last := appendN(t, e.store, "acct", 3, 30, "Deposited")
		holder := newRunner(t, e.store, fast(), p)
		start(t, holder)
		waitFor(t, holder, last)
		other := newRunner(t, e.store, fast(), p) // never runs
		if err := other.Reset(context.Background(), "balances"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, other, last) // the holder replays without a new append
		m.checkOnce(t, 1, 30)
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
		log, err := other.Log(context.Background(), "balances")
		if err != nil || len(log) != 1 || log[0].Action != "reset" {
			t.Fatalf("log %+v, %v", log, err)
		}
	})
}

// TestConcurrentRetriesAndNarrowing: Retry calls on two parked streams at
// once both return; a retry that fails on a later event parks the stream at
// that event, so Skip leaves out only the event that fails.
func TestConcurrentRetriesAndNarrowing(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var bad poison
		m := &balances{e: e, table: "bal", fail: bad.has}
		m.create(t, 1)
		r := newRunner(t, e.store, fast(), projection.Projection{Name: "balances", Version: 1, SQL: m.handle})
		start(t, r)
		waitFor(t, r, appendN(t, e.store, "acct", 2, 4, "Deposited"))
		bad.set("a1", "b1", "b3")
		appendIDs(t, e, r, "a", "a1", "a2")
		appendIDs(t, e, r, "b", "b1", "b2", "b3", "b4")
		if ps, err := r.Parked(context.Background(), "balances"); err != nil || len(ps) != 2 {
			t.Fatalf("parked %+v, %v", ps, err)
		}
		bad.set("b3")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errs := make(chan error, 2)
		for _, s := range []string{"a", "b"} {
			go func() { errs <- r.Retry(ctx, "balances", s) }()
		}
		var failed int
		for range 2 {
			if err := <-errs; err != nil {
				if !strings.Contains(err.Error(), "poison") {
					t.Fatalf("Retry: %v", err)
				}
				failed++
			}
		}
		ps, err := r.Parked(context.Background(), "balances")
		if err != nil {
			t.Fatal(err)
		}
		if failed != 1 || len(ps) != 1 || ps[0].Stream != "b" || ps[0].EventID != "b3" {
			t.Fatalf("after the retries: %d failed, parked %+v", failed, ps)
		}
		if err := r.Skip(ctx, "balances", "b"); err != nil {
			t.Fatal(err)
		}
		skipped := func(ev chronicle.Event) bool { return ev.ID == "b3" }
		if got, want := m.rows(t, 1), expected(t, e.store, nil, skipped); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
		m.checkOnce(t, 1, -1)
	})
}

// TestAutoSwitch: with Options.AutoSwitch a new version becomes the active
// one as soon as it has caught up, and the old one is retired.
func TestAutoSwitch(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "bal"}
		m.create(t, 1)
		m.create(t, 2)
		last := appendN(t, e.store, "acct", 4, 40, "Deposited")
		r1 := newRunner(t, e.store, fast(), projection.Projection{Name: "balances", Version: 1, SQL: m.handle})
		stop := start(t, r1)
		waitFor(t, r1, last)
		stop()
		opts := fast()
		opts.AutoSwitch = true
		r2 := newRunner(t, e.store, opts, projection.Projection{Name: "balances", Version: 2, SQL: m.handle})
		start(t, r2)
		eventually(t, "version 2 to become active", func() bool {
			sts, err := r2.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range sts {
				if st.Version == 2 && st.Stage == projection.Active {
					return true
				}
			}
			return false
		})
		if st := status(t, r2, "balances", 1); st.Stage != projection.Retired {
			t.Fatalf("version 1 after the switch: %+v", st)
		}
		waitFor(t, r2, appendN(t, e.store, "acct", 4, 4, "Deposited"))
		if got, want := m.rows(t, 2), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("version 2: %v, want %v", got, want)
		}
		m.checkOnce(t, 2, 44)
	})
}

// TestStoreClosedUnderTheRunner: closing the store while the runner runs
// ends Run with ErrClosed instead of retrying for ever.
func TestStoreClosedUnderTheRunner(t *testing.T) {
	e := openSQLite(t)
	m := &balances{e: e, table: "bal"}
	m.create(t, 1)
	r := newRunner(t, e.store, fast(), projection.Projection{Name: "balances", Version: 1, SQL: m.handle})
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	waitFor(t, r, appendN(t, e.store, "acct", 2, 4, "Deposited"))
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, chronicle.ErrClosed) {
			t.Fatalf("Run = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the store closed")
	}
}
