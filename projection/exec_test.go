package projection_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"sync"
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

// TestExecProjectionsTogether: Exec projections that are live at once (on
// PostgreSQL their pipelines go to the server together) each apply exactly
// what their filter selects, once, under concurrent appends, beside two
// whose statements the database refuses for some events (one at run time,
// one when preparing it): their streams park, and the others lose nothing
// to sharing a transaction with them and are never blamed for them.
func TestExecProjectionsTogether(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		filters := []chronicle.Filter{nil, {chronicle.StreamPrefix("a-")}, {chronicle.TypeIs("Refunded")}}
		var calls struct {
			sync.Mutex
			n map[string]int // handler calls by projection and event
		}
		calls.n = map[string]int{}
		var models []*balances
		var ps []projection.Projection
		var names []string
		for i, f := range filters {
			m := &balances{e: e, table: fmt.Sprintf("tog_%d", i)}
			m.create(t, 1)
			models = append(models, m)
			names = append(names, fmt.Sprintf("together-%d", i))
			ps = append(ps, projection.Projection{Name: names[i], Version: 1, Filter: f,
				Exec: func(ctx context.Context, stmts *projection.Statements, b projection.Batch) error {
					calls.Lock()
					for _, ev := range b.Events {
						calls.n[names[i]+"/"+ev.ID]++
					}
					calls.Unlock()
					return m.exec(ctx, stmts, b)
				}})
		}
		bad := &balances{e: e, table: "tog_bad", failInDB: func(ev chronicle.Event) bool { return ev.Type == "Refunded" }}
		bad.create(t, 1)
		missing := &balances{e: e, table: "tog_missing", failPrepare: func(ev chronicle.Event) bool { return ev.Type == "Refunded" }}
		missing.create(t, 1)
		ps = append(ps, projection.Projection{Name: "refuses", Version: 1, Exec: bad.exec},
			projection.Projection{Name: "misses", Version: 1, Exec: missing.exec})
		r := newRunner(t, e.store, fast(), ps...)
		start(t, r)
		// Every projection is live (not replaying: that would stop it at
		// the first refused statement) before the first Refunded event.
		waitFor(t, r, appendN(t, e.store, "a", 2, 4, "Deposited"), append(names, "refuses", "misses")...)
		appendBursts(t, e, r, 4, 8, 2, names...)
		for i, f := range filters {
			want := expected(t, e.store, f, nil)
			if got := models[i].rows(t, 1); !maps.Equal(got, want) {
				t.Errorf("projection %d (filter %v): %v, want %v", i, f, got, want)
			}
			models[i].checkOnce(t, 1, count(want))
		}
		// The refusing projection parked the 16 streams with a Refunded
		// event and applied the others' events once.
		for _, name := range []string{"refuses", "misses"} {
			eventually(t, name+" parked its streams", func() bool {
				parked, err := r.Parked(context.Background(), name)
				return err == nil && len(parked) == 16
			})
		}
		bad.checkOnce(t, 1, -1)
		missing.checkOnce(t, 1, -1)
		// The others were never blamed for their errors: no batch of
		// theirs failed and was handled again.
		calls.Lock()
		for k, n := range calls.n {
			if n != 1 {
				t.Errorf("%s handled %d times", k, n)
			}
		}
		calls.Unlock()
		for _, name := range names {
			parked, err := r.Parked(context.Background(), name)
			if err != nil || len(parked) != 0 {
				t.Errorf("%s: parked %v, %v", name, parked, err)
			}
			log, err := r.Log(context.Background(), name)
			if err != nil || len(log) != 0 {
				t.Errorf("%s: log %v, %v", name, log, err)
			}
		}
	})
}
