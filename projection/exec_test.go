package projection_test

import (
	"context"
	"database/sql"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/projection"
)

// TestExecHandler: an Exec projection catches up, goes live and resumes
// after a restart, applying every event once; a statement the database
// refuses rolls back its whole batch (the statements before it too), parks
// the event's stream while the others flow, and a retry once it is fixed
// applies the held events once.
func TestExecHandler(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var refuse atomic.Bool
		m := &balances{e: e, table: "ex", failInDB: func(ev chronicle.Event) bool { return refuse.Load() && ev.Type == "Poison" }}
		m.create(t, 1)
		p := projection.Projection{Name: "exec", Version: 1, Exec: m.exec}
		appendN(t, e.store, "acct", 3, 30, "Deposited")
		r := newRunner(t, e.store, fast(), p)
		stop := start(t, r)
		waitFor(t, r, appendN(t, e.store, "acct", 3, 6, "Deposited"))
		m.checkOnce(t, 1, 36)
		stop()

		refuse.Store(true)
		r = newRunner(t, e.store, fast(), p)
		start(t, r)
		waitFor(t, r, appendN(t, e.store, "acct", 3, 3, "Deposited"))
		// One append: a good event of acct-1, then the poison one.
		if _, err := e.store.Append(context.Background(), "acct-1", chronicle.Any,
			chronicle.EventData{Type: "Deposited", Data: []byte("7")}, chronicle.EventData{Type: "Poison", Data: []byte("1")}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "acct-1 parked", func() bool {
			ps, err := r.Parked(context.Background(), "exec")
			return err == nil && len(ps) == 1 && ps[0].Stream == "acct-1" && ps[0].EventType == "Poison"
		})
		waitFor(t, r, appendN(t, e.store, "other", 2, 4, "Deposited"))
		m.checkOnce(t, 1, 39+1+4) // the good event of acct-1 once, the poison one not
		refuse.Store(false)
		if err := r.Retry(context.Background(), "exec", "acct-1"); err != nil {
			t.Fatal(err)
		}
		last := appendN(t, e.store, "acct", 3, 3, "Deposited")
		waitFor(t, r, last)
		m.checkOnce(t, 1, 39+2+4+3)
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
	})
}

// TestExecHandlerAfterReset: a runner that holds an Exec projection finds
// its checkpoint moved by another runner's Reset: its next batch moves
// nothing, rolls back, and it replays from the start, applying every event
// once.
func TestExecHandlerAfterReset(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "exr"}
		m.create(t, 1)
		clear := func(ctx context.Context, tx *sql.Tx, name string, version int) error {
			return m.clear(ctx, tx, version)
		}
		p := projection.Projection{Name: "exec", Version: 1, Exec: m.exec, Reset: clear}
		last := appendN(t, e.store, "acct", 3, 30, "Deposited")
		holder := newRunner(t, e.store, fast(), p)
		start(t, holder)
		waitFor(t, holder, last)
		other := newRunner(t, e.store, fast(), p) // never runs
		if err := other.Reset(context.Background(), "exec"); err != nil {
			t.Fatal(err)
		}
		last = appendN(t, e.store, "acct", 3, 3, "Deposited")
		waitFor(t, other, last)
		m.checkOnce(t, 1, 33)
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
	})
}

// TestExecHandlerLosesItsLease: a runner stalls inside an Exec handler
// past its lease; another runner takes the projection over and applies the
// events; when the first one's statements reach the database, its
// checkpoint statement moves nothing, so none of them is applied.
func TestExecHandlerLosesItsLease(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "exl"}
		m.create(t, 1)
		appendN(t, e.store, "acct", 3, 9, "Deposited")
		stalled, release, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
		var once atomic.Bool
		stall := func(ctx context.Context, stmts *projection.Statements, b projection.Batch) error {
			if once.CompareAndSwap(false, true) {
				close(stalled)
				<-release
				defer close(returned)
			}
			return m.exec(ctx, stmts, b)
		}
		a := newRunner(t, e.store, fast(), projection.Projection{Name: "exec", Version: 1, Exec: stall})
		start(t, a)
		<-stalled
		b := newRunner(t, e.store, fast(), projection.Projection{Name: "exec", Version: 1, Exec: m.exec})
		start(t, b)
		last := appendN(t, e.store, "acct", 3, 3, "Deposited")
		waitFor(t, b, last)
		close(release)
		<-returned
		time.Sleep(200 * time.Millisecond) // its statements reach the database meanwhile
		waitFor(t, b, appendN(t, e.store, "acct", 3, 3, "Deposited"))
		m.checkOnce(t, 1, 15)
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
	})
}
