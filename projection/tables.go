package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-go/chronicle"
)

// tables reads and writes the projection tables of a store's database
// (projections, parked streams, log): what a [Runner] and an [Admin]
// share. It needs no projection's handlers.
type tables struct {
	store *chronicle.Store
	db    *sql.DB
	d     *dialect
}

// newTables checks that store runs on a backend with a SQL database
// (packages sqlite and postgres) and returns access to its projection
// tables, and the backend. It creates nothing.
func newTables(store *chronicle.Store) (tables, sqlBackend, error) {
	if store == nil {
		return tables{}, nil, fmt.Errorf("projection: %w: nil store", chronicle.ErrInvalid)
	}
	sb, ok := store.Backend().(sqlBackend)
	if !ok {
		return tables{}, nil, fmt.Errorf("projection: %w: the store's backend (%T) has no SQL database; use package sqlite or postgres",
			chronicle.ErrInvalid, store.Backend())
	}
	d, err := newDialect(sb)
	if err != nil {
		return tables{}, nil, err
	}
	return tables{store: store, db: sb.DB(), d: d}, sb, nil
}

// Actions recorded in the log that the code reads back.
const (
	actionReset          = "reset"
	actionResetRequested = "reset requested"
)

// row is one row of the projections table.
type row struct {
	name       string
	version    int
	stage      Stage
	pos, last  chronicle.Position
	lastID     string
	caughtUp   bool
	failure    string
	owner      string
	leaseUntil int64 // Unix ms, database clock
	updated    int64
	now        int64 // the database's clock, Unix ms
}

func (t *tables) scanRow(s interface{ Scan(...any) error }) (row, error) {
	var w row
	var stage string
	var pc, pp, lc, lp, cu int64
	err := s.Scan(&w.name, &w.version, &stage, &pc, &pp, &lc, &lp, &w.lastID, &cu, &w.failure, &w.owner, &w.leaseUntil, &w.updated, &w.now)
	w.stage = Stage(stage)
	w.pos = chronicle.Position{Commit: uint64(pc), Prepare: uint64(pp)}
	w.last = chronicle.Position{Commit: uint64(lc), Prepare: uint64(lp)}
	w.caughtUp = cu != 0
	return w, err
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// rows returns the rows of the named projection's versions, or of every
// projection's when name is empty, in name and version order.
func (t *tables) rows(ctx context.Context, q querier, name string) ([]row, error) {
	var rs *sql.Rows
	var err error
	if name == "" {
		rs, err = q.QueryContext(ctx, t.d.listAll)
	} else {
		rs, err = q.QueryContext(ctx, t.d.selectName, name)
	}
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		w, err := t.scanRow(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rs.Err()
}

// present reports whether the store's database holds the projection
// tables. The backends create them when they open a store; a database
// without them has no projections.
func (t *tables) present(ctx context.Context) (bool, error) {
	var n int
	if err := t.db.QueryRowContext(ctx, t.d.hasTables, t.d.projections).Scan(&n); err != nil {
		return false, fmt.Errorf("projection: %w", err)
	}
	return n > 0, nil
}

// tx runs fn in a transaction on the store's database.
func (t *tables) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := t.db.BeginTx(ctx, t.d.txOpts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// lockName serializes, on PostgreSQL, the transactions that read a
// projection's rows and then write them (registration, Switch, Reset and
// reset requests).
func (t *tables) lockName(ctx context.Context, tx *sql.Tx, name string) error {
	if t.d.lockName == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, t.d.lockName, name)
	return err
}

func (t *tables) logTx(ctx context.Context, tx *sql.Tx, name string, version int, action, stream string, pos chronicle.Position, id, detail string) error {
	_, err := tx.ExecContext(ctx, t.d.logInsert, name, version, nowNS(), action, stream, int64(pos.Commit), int64(pos.Prepare), id, detail)
	return err
}

func nowNS() int64 { return time.Now().UnixNano() }

// activeVersion returns the row of the store's active version of the named
// projection; ErrUnknown when the store has none.
func (t *tables) activeVersion(ctx context.Context, name string) (row, error) {
	rows, err := t.rows(ctx, t.db, name)
	if err != nil {
		return row{}, fmt.Errorf("projection: %s: %w", name, err)
	}
	for _, w := range rows {
		if w.stage == Active {
			return w, nil
		}
	}
	return row{}, fmt.Errorf("%w: %q has no active version in the store yet (Run registers it)", ErrUnknown, name)
}

// status returns the status of every projection version in the store whose
// name keep accepts (all when keep is nil), as the stored rows tell it:
// state Stopped when retired or when no runner holds a live lease, Failed
// when a failure is recorded, else Standby (held by the runner Owner names)
// or Parked when it has parked streams. local, when set, may correct each
// status with what the caller knows better (a runner, of the versions it
// runs) before the parked streams and the lag are counted.
func (t *tables) status(ctx context.Context, keep func(name string) bool, local func(st *Status)) ([]Status, error) {
	rows, err := t.rows(ctx, t.db, "")
	if err != nil {
		return nil, fmt.Errorf("projection: status: %w", err)
	}
	head, err := t.store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("projection: status: %w", err)
	}
	var out []Status
	for _, w := range rows {
		if keep != nil && !keep(w.name) {
			continue
		}
		st := Status{Name: w.name, Version: w.version, Stage: w.stage, Checkpoint: w.pos, Head: head,
			CaughtUp: w.caughtUp, Owner: w.owner, Error: w.failure}
		switch {
		case w.stage == Retired:
			st.State = Stopped
		case w.failure != "":
			st.State = Failed
		case w.owner == "" || w.leaseUntil < w.now:
			st.State, st.Owner = Stopped, ""
		default:
			st.State = Standby
		}
		if local != nil {
			local(&st)
		}
		parked, err := t.parked(ctx, t.db, w.name, w.version)
		if err != nil {
			return nil, fmt.Errorf("projection: status: %w", err)
		}
		st.ParkedStreams = len(parked)
		if len(parked) > 0 && (st.State == Live || st.State == Standby) {
			st.State = Parked
		}
		if w.stage != Retired {
			seq, err := t.resetRequest(ctx, t.db, w.name, w.version)
			if err != nil {
				return nil, fmt.Errorf("projection: status: %w", err)
			}
			st.ResetRequested = seq != 0
		}
		if st.Checkpoint.Before(head) && w.stage != Retired {
			args := t.d.posArgs(st.Checkpoint)
			if err := t.db.QueryRowContext(ctx, t.d.lagCount, args...).Scan(&st.LagEvents); err != nil {
				return nil, fmt.Errorf("projection: status: %w", err)
			}
			page, err := t.store.ReadAllPage(ctx, st.Checkpoint, 1, nil)
			if err != nil {
				return nil, fmt.Errorf("projection: status: %w", err)
			}
			if len(page.Events) > 0 {
				st.LagTime = max(0, time.Since(page.Events[0].Time))
			}
		}
		out = append(out, st)
	}
	return out, nil
}

func (t *tables) parked(ctx context.Context, q querier, name string, version int) ([]ParkedStream, error) {
	rs, err := q.QueryContext(ctx, t.d.parkedList, name, version)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []ParkedStream
	for rs.Next() {
		var p ParkedStream
		var pc, pp, at int64
		if err := rs.Scan(&p.Name, &p.Version, &p.Stream, &pc, &pp, &p.EventID, &p.EventVersion, &p.EventType, &p.Error, &p.Attempts, &at, &p.Request); err != nil {
			return nil, err
		}
		p.Position = chronicle.Position{Commit: uint64(pc), Prepare: uint64(pp)}
		p.Time = time.Unix(0, at).UTC()
		out = append(out, p)
	}
	return out, rs.Err()
}

// activeParked returns the parked streams of the named projection's active
// version.
func (t *tables) activeParked(ctx context.Context, name string) ([]ParkedStream, error) {
	w, err := t.activeVersion(ctx, name)
	if err != nil {
		return nil, err
	}
	ps, err := t.parked(ctx, t.db, name, w.version)
	if err != nil {
		return nil, fmt.Errorf("projection: parked %s: %w", name, err)
	}
	return ps, nil
}

// logEntries returns the log of the named projection, oldest first.
func (t *tables) logEntries(ctx context.Context, name string) ([]LogEntry, error) {
	rs, err := t.db.QueryContext(ctx, t.d.logList, name)
	if err != nil {
		return nil, fmt.Errorf("projection: log %s: %w", name, err)
	}
	defer rs.Close()
	var out []LogEntry
	for rs.Next() {
		var e LogEntry
		var at, pc, pp int64
		if err := rs.Scan(&e.Name, &e.Version, &at, &e.Action, &e.Stream, &pc, &pp, &e.EventID, &e.Detail); err != nil {
			return nil, fmt.Errorf("projection: log %s: %w", name, err)
		}
		e.Time = time.Unix(0, at).UTC()
		e.Position = chronicle.Position{Commit: uint64(pc), Prepare: uint64(pp)}
		out = append(out, e)
	}
	return out, rs.Err()
}

// request records a retry or skip request on a parked stream of a
// projection version; ErrNotParked when the stream is not parked there.
func (t *tables) request(ctx context.Context, name string, version int, stream, action string) error {
	res, err := t.db.ExecContext(ctx, t.d.parkedRequest, action, name, version, stream)
	if err != nil {
		return fmt.Errorf("projection: %s %s of %s: %w", action, stream, name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("%w: %q in %s", ErrNotParked, stream, name)
	}
	return nil
}

// resetRequest returns the log sequence number of the reset requested for
// a projection version through an [Admin] that no reset has carried out
// yet, or 0 when none is pending: a request is pending while it is the
// latest of the version's "reset requested" and "reset" log entries.
func (t *tables) resetRequest(ctx context.Context, q querier, name string, version int) (int64, error) {
	var seq int64
	var action string
	err := q.QueryRowContext(ctx, t.d.lastReset, name, version).Scan(&seq, &action)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, err
	case action != actionResetRequested:
		return 0, nil
	}
	return seq, nil
}

// reset moves a projection version back to the start of the store in tx:
// it forgets the version's checkpoint, parked streams and failure, runs fn
// (the projection's Reset function, if any) to clear its read model, and
// logs the reset, from at (the checkpoint it had). A reset requested
// through an Admin is then carried out.
func (t *tables) reset(ctx context.Context, tx *sql.Tx, name string, version int, at chronicle.Position, fn ResetFunc) error {
	if _, err := tx.ExecContext(ctx, t.d.reset, nowNS(), name, version); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, t.d.parkedDeleteAll, name, version); err != nil {
		return err
	}
	if fn != nil {
		if err := fn(ctx, tx, name, version); err != nil {
			return err
		}
	}
	return t.logTx(ctx, tx, name, version, actionReset, "", at, "", "")
}
