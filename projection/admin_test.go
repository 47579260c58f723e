package projection_test

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/internal/memback"
	"github.com/chronicle-go/chronicle/projection"
)

func newAdmin(t *testing.T, s *chronicle.Store) *projection.Admin {
	t.Helper()
	a, err := projection.NewAdmin(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// adminStatus returns the Admin's status of one projection version.
func adminStatus(t *testing.T, a *projection.Admin, name string, version int) projection.Status {
	t.Helper()
	st, ok := findStatus(t, a, name, version)
	if !ok {
		t.Fatalf("no status for %s version %d", name, version)
	}
	return st
}

// findStatus returns the Admin's status of one projection version, if the
// store has that version.
func findStatus(t *testing.T, a *projection.Admin, name string, version int) (projection.Status, bool) {
	t.Helper()
	sts, err := a.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pickStatus(sts, name, version)
}

// caughtUp waits until the projection version has reached the head.
func caughtUp(t *testing.T, a *projection.Admin, name string, version int) {
	t.Helper()
	eventually(t, name+" to catch up", func() bool {
		st, ok := findStatus(t, a, name, version)
		return ok && st.CaughtUp
	})
}

// actions returns the actions of the Admin's log of name.
func actions(t *testing.T, a *projection.Admin, name string) []string {
	t.Helper()
	log, err := a.Log(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range log {
		out = append(out, l.Action)
	}
	return out
}

// lastAction is the latest action of the Admin's log of name, or "".
func lastAction(t *testing.T, a *projection.Admin, name string) string {
	t.Helper()
	acts := actions(t, a, name)
	if len(acts) == 0 {
		return ""
	}
	return acts[len(acts)-1]
}

// chronicleTables lists the store's projection tables in the database.
func chronicleTables(t *testing.T, e *env) []string {
	t.Helper()
	var rs *sql.Rows
	var err error
	if e.schema == "" {
		rs, err = e.db.QueryContext(context.Background(),
			"SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'chronicle_projection%' ORDER BY name")
	} else {
		rs, err = e.db.QueryContext(context.Background(),
			"SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'projection%' ORDER BY 1", e.schema)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var n string
		if err := rs.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// parkable is a balances projection that a running runner has brought to
// the head, whose handler fails on the events bad names, with an Admin of
// its store.
type parkable struct {
	m    *balances
	bad  *poison
	r    *projection.Runner
	stop func()
	a    *projection.Admin
}

// startParkable appends events to three streams, starts a runner of the
// parkable projection and waits until it has caught up.
func startParkable(t *testing.T, e *env, events int) *parkable {
	t.Helper()
	p := &parkable{bad: &poison{}}
	p.m = &balances{e: e, table: "bal", fail: p.bad.has}
	p.m.create(t, 1)
	appendN(t, e.store, "acct", 3, events, "Deposited")
	p.r = newRunner(t, e.store, fast(), projection.Projection{Name: "balances", Version: 1, SQL: p.m.handle})
	p.stop = start(t, p.r)
	p.a = newAdmin(t, e.store)
	caughtUp(t, p.a, "balances", 1)
	return p
}

// replays is a balances read model whose Reset function can be made to
// fail, and that records the events of the batches that say Replaying
// once armed.
type replays struct {
	m         *balances
	armed     atomic.Bool
	replayed  sync.Map // event ID → true, of Replaying batches once armed
	resets    atomic.Int64
	failReset atomic.Bool
}

var errResetFails = errors.New("reset function fails")

func (r *replays) projection() projection.Projection {
	return projection.Projection{Name: "balances", Version: 1,
		SQL: func(ctx context.Context, tx *sql.Tx, b projection.Batch) error {
			if err := r.m.handle(ctx, tx, b); err != nil {
				return err
			}
			if b.Replaying && r.armed.Load() {
				for _, ev := range b.Events {
					r.replayed.Store(ev.ID, true)
				}
			}
			return nil
		},
		Reset: func(ctx context.Context, tx *sql.Tx, name string, version int) error {
			if r.failReset.Load() {
				return errResetFails
			}
			if err := r.m.clear(ctx, tx, version); err != nil {
				return err
			}
			r.resets.Add(1)
			return nil
		},
	}
}

// startReplays appends events to three streams, starts a runner of the
// replays projection, waits until it has caught up and returns the runner,
// a function that stops it and an Admin of the store.
func startReplays(t *testing.T, e *env, events int) (*replays, *projection.Runner, func(), *projection.Admin) {
	t.Helper()
	m := &balances{e: e, table: "bal"}
	m.create(t, 1)
	rp := &replays{m: m}
	last := appendN(t, e.store, "acct", 3, events, "Deposited")
	r := newRunner(t, e.store, fast(), rp.projection())
	stop := start(t, r)
	waitFor(t, r, last)
	a := newAdmin(t, e.store)
	caughtUp(t, a, "balances", 1)
	return rp, r, stop, a
}

func (r *replays) count() int {
	n := 0
	r.replayed.Range(func(any, any) bool { n++; return true })
	return n
}

// checkRebuilt waits until the Admin sees the version caught up again after
// the reset it requested, with no reset pending, then checks that every
// event was applied exactly once (the Reset function cleared the read
// model before the replay) in batches that said Replaying.
func (r *replays) checkRebuilt(t *testing.T, a *projection.Admin, events int) {
	t.Helper()
	eventually(t, "the requested reset to be carried out", func() bool { return lastAction(t, a, "balances") == "reset" })
	eventually(t, "the replay to reach the head", func() bool {
		st := adminStatus(t, a, "balances", 1)
		return st.CaughtUp && st.LagEvents == 0 && !st.ResetRequested
	})
	if n := r.count(); n != events {
		t.Fatalf("%d events replayed in batches that said Replaying, want %d", n, events)
	}
	if got, want := r.m.rows(t, 1), expected(t, r.m.e.store, nil, nil); !maps.Equal(got, want) {
		t.Fatalf("read model %v, want %v", got, want)
	}
	r.m.checkOnce(t, 1, events)
	if n := r.resets.Load(); n != 1 {
		t.Fatalf("the Reset function ran %d times, want 1", n)
	}
	acts := actions(t, a, "balances")
	if len(acts) < 2 || acts[len(acts)-2] != "reset requested" {
		t.Fatalf("log %v, want a reset requested then the reset", acts)
	}
}

// resetThroughAdmin requests a reset through a, waits until the runner
// that holds the projection has carried it out (see checkRebuilt), checks
// that it serves the version again without an error, and returns the
// Admin's status of it.
func (r *replays) resetThroughAdmin(t *testing.T, a *projection.Admin, events int) projection.Status {
	t.Helper()
	r.armed.Store(true)
	if err := a.Reset(context.Background(), "balances"); err != nil {
		t.Fatal(err)
	}
	r.checkRebuilt(t, a, events)
	st := adminStatus(t, a, "balances", 1)
	if st.State != projection.Standby || st.Error != "" || st.Owner == "" {
		t.Fatalf("status after the reset: %+v", st)
	}
	return st
}

// TestAdminWithoutProjectionTables: an Admin of a store whose database has
// no projection tables lists no projections, refuses the operations with
// ErrUnknown and creates no table.
func TestAdminWithoutProjectionTables(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, name := range []string{"projection_log", "projection_parked", "projections"} {
			table := "chronicle_" + name
			if e.schema != "" {
				table = e.schema + "." + name
			}
			if _, err := e.db.ExecContext(ctx, "DROP TABLE "+table); err != nil {
				t.Fatal(err)
			}
		}
		if got := chronicleTables(t, e); len(got) != 0 {
			t.Fatalf("tables left: %v", got)
		}
		a := newAdmin(t, e.store)
		sts, err := a.Status(ctx)
		if err != nil || len(sts) != 0 {
			t.Fatalf("Status = %+v, %v; want none", sts, err)
		}
		if _, err := a.Parked(ctx, "balances"); !errors.Is(err, projection.ErrUnknown) {
			t.Fatalf("Parked = %v, want ErrUnknown", err)
		}
		if _, err := a.Log(ctx, "balances"); !errors.Is(err, projection.ErrUnknown) {
			t.Fatalf("Log = %v, want ErrUnknown", err)
		}
		for op, f := range map[string]func() error{
			"Retry": func() error { return a.Retry(ctx, "balances", "acct-1") },
			"Skip":  func() error { return a.Skip(ctx, "balances", "acct-1") },
			"Reset": func() error { return a.Reset(ctx, "balances") },
		} {
			if err := f(); !errors.Is(err, projection.ErrUnknown) {
				t.Fatalf("%s = %v, want ErrUnknown", op, err)
			}
		}
		if got := chronicleTables(t, e); len(got) != 0 {
			t.Fatalf("the Admin created tables: %v", got)
		}
	})
}

// TestNewAdminNeedsSQL: NewAdmin refuses a nil store and a store without a
// SQL database.
func TestNewAdminNeedsSQL(t *testing.T) {
	if _, err := projection.NewAdmin(nil); !errors.Is(err, chronicle.ErrInvalid) {
		t.Fatalf("NewAdmin(nil) = %v, want ErrInvalid", err)
	}
	s, err := memback.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := projection.NewAdmin(s); !errors.Is(err, chronicle.ErrInvalid) || !strings.Contains(err.Error(), "SQL") {
		t.Fatalf("NewAdmin(in-memory store) = %v, want ErrInvalid", err)
	}
}

// TestAdminStatusMatchesRunner: an Admin reports the projections of every
// runner of the store as they run (checkpoint, lag, parked streams,
// owner), and as the store left them once they stopped.
func TestAdminStatusMatchesRunner(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p := startParkable(t, e, 20)
		r, a := p.r, p.a
		audit := newRunner(t, e.store, fast(), projection.Projection{Name: "audit", Version: 1,
			Handle: func(context.Context, projection.Batch) error { return nil }})
		stopAudit := start(t, audit)
		p.bad.set("bad")
		appendIDs(t, e, r, "acct-1", "bad", "held")
		last := appendN(t, e.store, "acct", 3, 5, "Deposited")
		waitFor(t, r, last)
		waitFor(t, audit, last)

		var got, want projection.Status
		eventually(t, "the Admin's status to match the runner's", func() bool {
			got, want = adminStatus(t, a, "balances", 1), status(t, r, "balances", 1)
			return got.Checkpoint == want.Checkpoint && got.Head == want.Head
		})
		if got.Stage != projection.Active || got.State != projection.Parked || want.State != projection.Parked ||
			got.Owner != r.Owner() || got.Owner != want.Owner || got.ParkedStreams != 1 || got.ParkedStreams != want.ParkedStreams ||
			got.LagEvents != 0 || want.LagEvents != 0 || got.LagTime != 0 || !got.CaughtUp || !want.CaughtUp ||
			got.Error != "" || got.ResetRequested {
			t.Fatalf("Admin status %+v, runner status %+v", got, want)
		}
		if st := adminStatus(t, a, "audit", 1); st.State != projection.Standby || st.Owner != audit.Owner() || st.ParkedStreams != 0 {
			t.Fatalf("Admin status of the other runner's projection: %+v", st)
		}
		sts, err := a.Status(ctx)
		if err != nil || len(sts) != 2 || sts[0].Name != "audit" || sts[1].Name != "balances" {
			t.Fatalf("Status = %+v, %v; want audit then balances", sts, err)
		}
		ps, err := a.Parked(ctx, "balances")
		if err != nil || len(ps) != 1 || ps[0].Stream != "acct-1" || ps[0].EventID != "bad" {
			t.Fatalf("Parked = %+v, %v", ps, err)
		}
		if acts := actions(t, a, "balances"); strings.Join(acts, " ") != "parked" {
			t.Fatalf("log %v", acts)
		}

		// Stopped: no owner, and the lag of what was appended since.
		p.stop()
		stopAudit()
		before := adminStatus(t, a, "balances", 1)
		if before.State != projection.Stopped || before.Owner != "" || before.Checkpoint.Before(last) || before.LagEvents != 0 {
			t.Fatalf("after the runner stopped: %+v", before)
		}
		appendN(t, e.store, "acct", 3, 5, "Deposited")
		time.Sleep(10 * time.Millisecond) // for LagTime
		st := adminStatus(t, a, "balances", 1)
		if st.State != projection.Stopped || st.Checkpoint != before.Checkpoint || st.LagEvents != 5 || st.LagTime <= 0 ||
			st.ParkedStreams != 1 || !st.CaughtUp || !last.Before(st.Head) {
			t.Fatalf("stopped, 5 events behind: %+v", st)
		}
	})
}

// TestAdminRetryAndSkip: retries and skips asked through an Admin are
// carried out by the runner that holds the projection: a parked stream
// flows again.
func TestAdminRetryAndSkip(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		p := startParkable(t, e, 12)
		m, bad, r, a := p.m, p.bad, p.r, p.a
		bad.set("bad-1")
		appendIDs(t, e, r, "acct-1", "bad-1", "held-1")
		ps, err := a.Parked(ctx, "balances")
		if err != nil || len(ps) != 1 || ps[0].Stream != "acct-1" || ps[0].EventID != "bad-1" {
			t.Fatalf("Parked = %+v, %v", ps, err)
		}
		attempts := ps[0].Attempts

		// A retry that fails again: the stream stays parked, one more attempt.
		if err := a.Retry(ctx, "balances", "acct-1"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the failed retry to be counted", func() bool {
			ps, err := a.Parked(ctx, "balances")
			return err == nil && len(ps) == 1 && ps[0].Attempts == attempts+1 && ps[0].Request == ""
		})

		// Fixed: the retry applies the held events and the stream flows again.
		bad.set()
		if err := a.Retry(ctx, "balances", "acct-1"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the retry to un-park the stream", func() bool {
			ps, err := a.Parked(ctx, "balances")
			return err == nil && len(ps) == 0
		})
		waitFor(t, r, appendN(t, e.store, "acct", 3, 3, "Deposited"))
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("after the retry: %v, want %v", got, want)
		}
		if err := a.Retry(ctx, "balances", "acct-1"); !errors.Is(err, projection.ErrNotParked) {
			t.Fatalf("Retry of a stream that flows = %v, want ErrNotParked", err)
		}

		// Skip: the failing event is left out, the stream's later events applied.
		bad.set("bad-2")
		appendIDs(t, e, r, "acct-2", "bad-2", "held-2")
		if err := a.Skip(ctx, "balances", "acct-2"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the skip to un-park the stream", func() bool {
			ps, err := a.Parked(ctx, "balances")
			return err == nil && len(ps) == 0
		})
		waitFor(t, r, appendIDs(t, e, r, "acct-2", "after-2"))
		skipped := func(ev chronicle.Event) bool { return ev.ID == "bad-2" }
		if got, want := m.rows(t, 1), expected(t, e.store, nil, skipped); !maps.Equal(got, want) {
			t.Fatalf("after the skip: %v, want %v", got, want)
		}
		m.checkOnce(t, 1, -1)
		if st := adminStatus(t, a, "balances", 1); st.State != projection.Standby || st.ParkedStreams != 0 || st.Owner != r.Owner() {
			t.Fatalf("status after the skip: %+v", st)
		}
		if acts := actions(t, a, "balances"); strings.Join(acts, " ") != "parked retried parked skipped" {
			t.Fatalf("log %v", acts)
		}

		for op, f := range map[string]func() error{
			"Retry": func() error { return a.Retry(ctx, "nope", "acct-1") },
			"Skip":  func() error { return a.Skip(ctx, "nope", "acct-1") },
			"Reset": func() error { return a.Reset(ctx, "nope") },
			"Parked": func() error {
				_, err := a.Parked(ctx, "nope")
				return err
			},
			"Log": func() error {
				_, err := a.Log(ctx, "nope")
				return err
			},
		} {
			if err := f(); !errors.Is(err, projection.ErrUnknown) {
				t.Fatalf("%s of an unknown projection = %v, want ErrUnknown", op, err)
			}
		}
	})
}

// TestAdminResetWhileRunning: a reset asked through an Admin is carried out
// by the running runner with the projection's Reset function, and the
// projection replays.
func TestAdminResetWhileRunning(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		rp, r, _, a := startReplays(t, e, 40)
		if st := rp.resetThroughAdmin(t, a, 40); st.Owner != r.Owner() {
			t.Fatalf("status after the reset: %+v", st)
		}
		if st := status(t, r, "balances", 1); st.State != projection.Live || st.ResetRequested {
			t.Fatalf("runner's status after the reset: %+v", st)
		}
		// Live again.
		waitFor(t, r, appendN(t, e.store, "acct", 3, 3, "Deposited"))
		rp.m.checkOnce(t, 1, 43)
	})
}

// TestAdminResetWithoutRunner: a reset asked through an Admin while no
// runner holds the projection waits, shown pending, and the runner that
// starts next carries it out before anything else.
func TestAdminResetWithoutRunner(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		rp, _, stop, a := startReplays(t, e, 30)
		stop()
		before := adminStatus(t, a, "balances", 1)
		if err := a.Reset(context.Background(), "balances"); err != nil {
			t.Fatal(err)
		}
		st := adminStatus(t, a, "balances", 1)
		if !st.ResetRequested || st.State != projection.Stopped || st.Checkpoint != before.Checkpoint || !st.CaughtUp {
			t.Fatalf("status with the reset pending: %+v", st)
		}
		if got := lastAction(t, a, "balances"); got != "reset requested" {
			t.Fatalf("last logged action %q, want reset requested", got)
		}
		if got, want := rp.m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) || rp.resets.Load() != 0 {
			t.Fatalf("the read model changed before a runner took the request: %v, want %v", got, want)
		}
		rp.armed.Store(true)
		r2 := newRunner(t, e.store, fast(), rp.projection())
		start(t, r2)
		rp.checkRebuilt(t, a, 30)
	})
}

// TestAdminResetOfFailedProjection: a reset asked through an Admin brings
// back a projection that stopped on an error, held by a running runner.
func TestAdminResetOfFailedProjection(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		var bad poison
		m := &balances{e: e, table: "bal", fail: bad.has}
		m.create(t, 1)
		rp := &replays{m: m}
		bad.set("bad")
		appendN(t, e.store, "acct", 3, 10, "Deposited")
		if _, err := e.store.Append(context.Background(), "acct-1", chronicle.Any,
			chronicle.EventData{ID: "bad", Type: "Deposited", Data: []byte("7")}); err != nil {
			t.Fatal(err)
		}
		appendN(t, e.store, "acct", 3, 10, "Deposited")
		r := newRunner(t, e.store, fast(), rp.projection())
		start(t, r)
		a := newAdmin(t, e.store)
		eventually(t, "the replay to fail", func() bool {
			st, ok := findStatus(t, a, "balances", 1)
			return ok && st.State == projection.Failed
		})
		if st := adminStatus(t, a, "balances", 1); !strings.Contains(st.Error, "poison") || st.Owner != r.Owner() {
			t.Fatalf("failed: %+v", st)
		}
		bad.set()
		if st := rp.resetThroughAdmin(t, a, 21); st.Owner != r.Owner() {
			t.Fatalf("status after the reset: %+v", st)
		}
	})
}

// TestAdminResetFunctionFails: when the Reset function fails, nothing is
// reset, the projection stops with the error and the request stays
// pending; a new request is carried out once the function works.
func TestAdminResetFunctionFails(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		rp, _, _, a := startReplays(t, e, 20)
		before := adminStatus(t, a, "balances", 1)
		rp.failReset.Store(true)
		if err := a.Reset(context.Background(), "balances"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the projection to fail", func() bool { return adminStatus(t, a, "balances", 1).State == projection.Failed })
		st := adminStatus(t, a, "balances", 1)
		if !strings.Contains(st.Error, errResetFails.Error()) || !st.ResetRequested ||
			st.Checkpoint.Before(before.Checkpoint) || st.LagEvents != 0 {
			t.Fatalf("after the Reset function failed: %+v", st)
		}
		if got, want := rp.m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
		time.Sleep(fast().LeaseTTL) // the runner does not try the same request again
		if acts := actions(t, a, "balances"); strings.Join(acts, " ") != "reset requested failed" {
			t.Fatalf("log %v", acts)
		}
		rp.failReset.Store(false)
		rp.resetThroughAdmin(t, a, 20)
	})
}
