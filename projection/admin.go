package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle"
)

// Admin inspects and operates the projections a store holds, without their
// handlers: what a command-line tool or an operator's console needs, in a
// process that does not run the application's projections. It reads and
// writes the same records as the [Runner]s of the store, so that what it
// shows and asks for is what they do.
//
// Its operations record requests that the runner holding a projection
// carries out: [Admin.Retry] and [Admin.Skip] as [Runner.Retry] and
// [Runner.Skip] do when another runner holds the projection, and
// [Admin.Reset] a request that the holder carries out with the
// projection's own Reset function. They return once the request is
// recorded, without waiting for its outcome: watch [Admin.Status],
// [Admin.Parked] and [Admin.Log].
//
// An Admin keeps no state but the store: create one when needed. Its
// methods may be called from any goroutine.
type Admin struct {
	t tables
}

// NewAdmin returns an Admin of the projections of store, which must run on
// a backend with a SQL database (packages sqlite and postgres), as for
// [New]; otherwise it fails with an error matching [chronicle.ErrInvalid].
// It creates nothing in the store: in a database that has no projection
// tables, Status returns no projections and the other methods fail with
// [ErrUnknown].
func NewAdmin(store *chronicle.Store) (*Admin, error) {
	t, _, err := newTables(store)
	if err != nil {
		return nil, err
	}
	return &Admin{t: t}, nil
}

// Status returns the status of every version of every projection that the
// store records (active, building and retired), in name and version order,
// as the store records it: State is Stopped for a retired version and for
// one that no runner holds (no live lease), Failed when a failure is
// recorded, and otherwise Standby, for a version that the runner named by
// Owner holds, or Parked when that version has parked streams. An Admin
// cannot tell whether a held version is catching up or live: see
// Checkpoint, LagEvents and CaughtUp. The checkpoint is the one stored,
// which may lag what its runner has examined by up to a third of that
// runner's Options.LeaseTTL when the projection's filter skips events.
// Error is the recorded failure; ResetRequested reports a pending
// [Admin.Reset].
func (a *Admin) Status(ctx context.Context) ([]Status, error) {
	ok, err := a.t.present(ctx)
	if err != nil || !ok {
		return nil, err
	}
	return a.t.status(ctx, nil, nil)
}

// Parked returns the parked streams of the named projection's active
// version, oldest first, with any retry or skip request pending on them.
func (a *Admin) Parked(ctx context.Context, name string) ([]ParkedStream, error) {
	if err := a.known(ctx, name); err != nil {
		return nil, err
	}
	return a.t.activeParked(ctx, name)
}

// Log returns what was recorded of the named projection (all versions):
// parked, retried and skipped events, resets and reset requests, switches,
// retirements and failures, oldest first.
func (a *Admin) Log(ctx context.Context, name string) ([]LogEntry, error) {
	if err := a.known(ctx, name); err != nil {
		return nil, err
	}
	return a.t.logEntries(ctx, name)
}

// Retry asks the named projection's active version to apply a parked
// stream's held events again, from the event that failed. It records the
// request and returns at once; the runner that holds the projection
// carries it out within about a third of its Options.LeaseTTL (or when it
// next takes the projection). Meanwhile [Admin.Parked] shows the request;
// then the stream is no longer parked, or it stays parked with one more
// attempt and the new error. It fails with [ErrNotParked] when the stream
// is not parked, and with [ErrUnknown] when the store has no active
// version of that name.
func (a *Admin) Retry(ctx context.Context, name, stream string) error {
	return a.request(ctx, name, stream, "retry")
}

// Skip asks the named projection's active version to skip the failed event
// of a parked stream (recorded in the log) and to apply the stream's later
// held events; if one of them fails, the stream is parked again at that
// event. It records the request and returns at once, as [Admin.Retry]
// does.
func (a *Admin) Skip(ctx context.Context, name, stream string) error {
	return a.request(ctx, name, stream, "skip")
}

func (a *Admin) request(ctx context.Context, name, stream, action string) error {
	if err := a.known(ctx, name); err != nil {
		return err
	}
	act, err := a.t.activeVersion(ctx, name)
	if err != nil {
		return err
	}
	return a.t.request(ctx, name, act.version, stream, action)
}

// Reset asks for the named projection's active version to be rebuilt from
// the start of the store, as [Runner.Reset] does. An Admin has not the
// projection's Reset function, which clears its read model, so Reset
// records a request (logged as "reset requested") and returns at once;
// [Status].ResetRequested reports it pending. The runner that holds that
// version carries it out within about a third of its Options.LeaseTTL, or
// when it starts serving the version if none holds it now: in one
// transaction it moves the checkpoint back to the start, forgets the
// version's parked streams and failure (a failed version is reset too),
// runs the projection's Reset function and logs the reset, as
// [Runner.Reset] would; then it replays everything (its batches say
// Replaying). Should the Reset function fail, nothing is reset, the
// version stops with that error (state Failed) and the request stays
// pending: that runner tries it again when it restarts, or at once after
// a new Reset. A reset made by any means ([Runner.Reset]) fulfils the
// request, and the version's retirement cancels it. It fails with
// [ErrUnknown] when the store has no active version of that name.
func (a *Admin) Reset(ctx context.Context, name string) error {
	if err := a.known(ctx, name); err != nil {
		return err
	}
	err := a.t.tx(ctx, func(tx *sql.Tx) error {
		if err := a.t.lockName(ctx, tx, name); err != nil {
			return err
		}
		rows, err := a.t.rows(ctx, tx, name)
		if err != nil {
			return err
		}
		for _, w := range rows {
			if w.stage == Active {
				return a.t.logTx(ctx, tx, name, w.version, actionResetRequested, "", w.pos, "", "")
			}
		}
		return fmt.Errorf("%w: %q has no active version in the store", ErrUnknown, name)
	})
	if err != nil && !errors.Is(err, ErrUnknown) {
		return fmt.Errorf("projection: reset %s: %w", name, err)
	}
	return err
}

// known returns ErrUnknown unless the store holds the projection tables
// and a version of the named projection.
func (a *Admin) known(ctx context.Context, name string) error {
	ok, err := a.t.present(ctx)
	if err != nil {
		return err
	}
	if ok {
		rows, err := a.t.rows(ctx, a.t.db, name)
		if err != nil {
			return fmt.Errorf("projection: %s: %w", name, err)
		}
		ok = len(rows) > 0
	}
	if !ok {
		return fmt.Errorf("%w: %q is not in the store", ErrUnknown, name)
	}
	return nil
}
