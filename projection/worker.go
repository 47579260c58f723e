package projection

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chronicle-go/chronicle"
)

// Control errors: a worker's serve loop ends with one of these when the
// projection's row changed under it; the run loop then acts on it.
var (
	errLeaseLost = errors.New("lease lost to another runner")
	errMoved     = errors.New("checkpoint changed by another caller")
	errRetired   = errors.New("version retired")
)

func isControl(err error) bool {
	return errors.Is(err, errLeaseLost) || errors.Is(err, errMoved) || errors.Is(err, errRetired)
}

// failure is an error that stops the projection (state Failed).
type failure struct{ err error }

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// worker runs one version of one projection.
type worker struct {
	r       *Runner
	p       *Projection
	version int
	pokeCh  chan struct{}

	// Guarded by r.mu.
	stage    Stage
	state    State
	scan     chronicle.Position // examined and committed through
	caughtUp bool
	lastErr  string
	leased   bool
	started  bool // it has tried to take the lease once, and verified the checkpoint if it got it
	exited   bool
	waiters  map[string][]chan error // Retry/Skip callers by stream

	// Owned by the worker's goroutine.
	dbScan      chronicle.Position // the checkpoint as stored
	parked      map[string]ParkedStream
	renewAt     time.Time
	resetAt     time.Time          // when to look for a requested reset again
	resetFailed int64              // the requested reset whose Reset function failed (its log seq)
	readHead    chronicle.Position // the head as the last page's read saw it; zero when that page was full
}

func (r *Runner) newWorker(p *Projection, version int) *worker {
	w := &worker{r: r, p: p, version: version, pokeCh: make(chan struct{}, 1),
		state: Stopped, waiters: make(map[string][]chan error)}
	r.mu.Lock()
	r.workers[wkey{p.Name, version}] = w
	r.mu.Unlock()
	return w
}

func (w *worker) poke() {
	select {
	case w.pokeCh <- struct{}{}:
	default:
	}
}

func (w *worker) logger() slogger { return slogger{w} }

// slogger logs with the projection's name and version.
type slogger struct{ w *worker }

func (l slogger) log(level slog.Level, msg string, err error, args ...any) {
	args = append([]any{"projection", l.w.p.Name, "version", l.w.version}, args...)
	if err != nil {
		args = append(args, "err", err)
	}
	l.w.r.log.Log(context.Background(), level, "chronicle projection: "+msg, args...)
}

func (l slogger) debug(msg string, args ...any)            { l.log(slog.LevelDebug, msg, nil, args...) }
func (l slogger) info(msg string, args ...any)             { l.log(slog.LevelInfo, msg, nil, args...) }
func (l slogger) warn(msg string, err error, args ...any)  { l.log(slog.LevelWarn, msg, err, args...) }
func (l slogger) error(msg string, err error, args ...any) { l.log(slog.LevelError, msg, err, args...) }

// set updates the worker's shared state and wakes WaitFor callers.
func (w *worker) set(f func()) {
	w.r.mu.Lock()
	f()
	w.r.mu.Unlock()
	w.r.progress.Broadcast()
}

func (w *worker) current() (scan chronicle.Position, caughtUp bool) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.scan, w.caughtUp
}

// answerAll delivers err to every Retry and Skip caller waiting.
func (w *worker) answerAll(err error) {
	w.r.mu.Lock()
	ws := w.waiters
	w.waiters = make(map[string][]chan error)
	w.r.mu.Unlock()
	for _, cs := range ws {
		for _, c := range cs {
			c <- err
		}
	}
}

// answer delivers err to the Retry and Skip callers waiting on stream.
func (w *worker) answer(stream string, err error) {
	w.r.mu.Lock()
	ws := w.waiters[stream]
	delete(w.waiters, stream)
	w.r.mu.Unlock()
	for _, c := range ws {
		c <- err
	}
}

// run is the worker's goroutine: it takes the projection's lease, serves it
// until ctx ends, stands by while another runner holds it, and stops when
// the version is retired. hard is the context of database work, which
// outlives ctx until the shutdown timeout.
func (w *worker) run(ctx, hard context.Context) {
	defer func() {
		release, cancel := context.WithTimeout(context.WithoutCancel(hard), time.Second)
		defer cancel()
		_, _ = w.r.db.ExecContext(release, w.r.d.release, w.p.Name, w.version, w.r.owner)
		w.set(func() {
			w.leased, w.exited = false, true
			if w.state != Failed {
				w.state = Stopped
			}
		})
		w.answerAll(fmt.Errorf("projection: %s: the runner stopped; the request is recorded", w.p.Name))
	}()
	standby := w.r.opts.LeaseTTL / 3
	for ctx.Err() == nil {
		ok, retired, err := w.acquire(hard)
		switch {
		case retired:
			return
		case err != nil:
			if w.r.storeClosed(hard) {
				return
			}
			w.logger().warn("lease", err)
			sleep(ctx, standby, nil)
			continue
		case !ok:
			w.set(func() { w.state, w.leased, w.started = Standby, false, true })
			sleep(ctx, standby, w.pokeCh)
			continue
		}
		w.set(func() { w.leased = true })
		err = w.serve(ctx, hard)
		w.persistProgress(hard)
		if err != nil {
			// Retry and Skip callers waiting here are answered; their
			// requests stay recorded for whoever serves next.
			w.answerAll(fmt.Errorf("projection: %s: the request is recorded, but this runner stopped serving the projection: %w", w.p.Name, err))
		}
		var f *failure
		switch {
		case errors.Is(err, errRetired):
			w.logger().info("retired")
			return
		case ctx.Err() != nil:
			return
		case errors.As(err, &f):
			w.fail(hard, f.err)
			if !w.idleFailed(ctx, hard) {
				return
			}
		case isControl(err):
			w.logger().info(err.Error())
		case err != nil:
			if w.r.storeClosed(hard) {
				return
			}
			w.logger().warn("batch", err)
			w.set(func() { w.lastErr = err.Error() })
			sleep(ctx, w.r.opts.Retry.Initial, nil)
		}
	}
}

// acquire takes or renews the lease. retired reports that the version no
// longer runs.
func (w *worker) acquire(ctx context.Context) (ok, retired bool, err error) {
	ttl := w.r.opts.LeaseTTL.Milliseconds()
	res, err := w.r.db.ExecContext(ctx, w.r.d.acquire, w.r.owner, ttl, w.p.Name, w.version, w.r.owner)
	if err != nil {
		return false, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return n == 1, false, err
	}
	row, err := w.row(ctx, w.r.db)
	if err != nil {
		return false, false, err
	}
	return false, row.stage == Retired, nil
}

func (w *worker) row(ctx context.Context, q querier) (row, error) {
	return w.r.scanRow(q.QueryRowContext(ctx, w.r.d.selectOne, w.p.Name, w.version))
}

// sleep waits d, or until ctx ends or wake fires.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-wake:
	}
}

// serve runs the projection while this runner holds its lease.
func (w *worker) serve(ctx, hard context.Context) error {
	row, err := w.row(hard, w.r.db)
	if err != nil {
		return err
	}
	if row.stage == Retired {
		return errRetired
	}
	// A reset requested through an Admin comes first: it is also how a
	// checkpoint that no longer matches the store (verify) is rebuilt.
	if err := w.takeReset(hard); err != nil {
		return err
	}
	if row.failure != "" {
		// A restart: try again what failed before (the code may be fixed).
		if _, err := w.r.db.ExecContext(hard, w.r.d.clearFailure, w.p.Name, w.version, w.r.owner); err != nil {
			return err
		}
	}
	w.set(func() { w.stage = row.stage })
	if err := w.verify(hard, row); err != nil {
		return err
	}
	parked, err := w.r.parked(hard, w.r.db, w.p.Name, w.version)
	if err != nil {
		return err
	}
	w.parked = make(map[string]ParkedStream, len(parked))
	for _, p := range parked {
		w.parked[p.Stream] = p
	}
	w.dbScan = row.pos
	w.set(func() {
		w.stage, w.scan, w.caughtUp, w.lastErr, w.state = row.stage, row.pos, row.caughtUp, "", CatchingUp
		w.started = true
	})
	w.renewAt = time.Now().Add(w.r.opts.LeaseTTL / 3)
	w.logger().debug("serving", "checkpoint", row.pos.String())

	poked := true
	atHead := false // the last page read was not full
	for {
		if time.Now().After(w.resetAt) { // a reset requested through an Admin
			if err := w.takeReset(hard); err != nil {
				return err
			}
		}
		if poked && len(w.parked) > 0 {
			if err := w.resolveRequests(ctx, hard); err != nil {
				return err
			}
		}
		if poked {
			// Reset, Switch or another caller may have changed the row.
			cur, err := w.row(hard, w.r.db)
			if err != nil {
				return err
			}
			if err := w.mismatch(cur.stage, cur.owner, cur.pos); err != nil {
				return err
			}
			w.set(func() { w.stage = cur.stage })
		}
		wake := w.r.store.Notify()
		scan, caughtUp := w.current()
		var page chronicle.Page
		if atHead {
			// Live: share the read with the runner's other live workers.
			page, err = w.r.live.page(hard, w.r.store, scan, w.r.opts.BatchSize, w.p.Filter, wake)
		} else {
			page, err = w.r.store.ReadAllPage(hard, scan, w.r.opts.BatchSize, w.p.Filter)
		}
		if err != nil {
			return err
		}
		atHead = !page.Full
		w.readHead = chronicle.Position{}
		if !page.Full {
			w.readHead = page.Next
		}
		events := page.Events
		if len(w.parked) > 0 {
			events = w.unparked(events)
		}
		next := page.Next
		if next.Before(scan) {
			next = scan
		}
		if len(events) > 0 {
			if err := w.apply(ctx, hard, events, next, !caughtUp); err != nil {
				return err
			}
		} else if scan.Before(next) {
			w.set(func() { w.scan = next })
		}
		if page.Full {
			w.set(func() { w.state = CatchingUp })
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if time.Now().After(w.renewAt) {
				if err := w.renew(hard); err != nil {
					return err
				}
			}
			poked = false
			continue
		}
		if !caughtUp {
			if err := w.markCaughtUp(hard); err != nil {
				return err
			}
		}
		w.set(func() {
			w.state = Live
			if len(w.parked) > 0 {
				w.state = Parked
			}
		})
		if time.Now().After(w.renewAt) {
			if err := w.renew(hard); err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		poked = false
		timer := time.NewTimer(time.Until(w.renewAt))
		select {
		case <-wake:
		case <-w.pokeCh:
			poked = true
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		if len(w.parked) > 0 && !poked {
			poked = time.Now().After(w.renewAt) // requests from other processes
		}
	}
}

// verify checks that the stored checkpoint points where it did: the event
// it names is still at its position with the same ID, and the store has
// reached the position examined.
func (w *worker) verify(ctx context.Context, row row) error {
	if row.lastID != "" {
		var id string
		err := w.r.db.QueryRowContext(ctx, w.r.d.eventID, w.r.d.posArgs(row.last)...).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return &failure{fmt.Errorf("%w: %s version %d: no event at the checkpoint's position %s (event %s); rebuild the projection (Reset)",
				ErrCheckpoint, w.p.Name, w.version, row.last, row.lastID)}
		case err != nil:
			return err
		case id != row.lastID:
			return &failure{fmt.Errorf("%w: %s version %d: the event at the checkpoint's position %s is %s, not %s; rebuild the projection (Reset)",
				ErrCheckpoint, w.p.Name, w.version, row.last, id, row.lastID)}
		}
	}
	if !row.pos.IsZero() {
		page, err := w.r.store.ReadAllPage(ctx, row.pos, 1, nil)
		if err != nil {
			return err
		}
		if len(page.Events) == 0 && page.Next.Before(row.pos) {
			return &failure{fmt.Errorf("%w: %s version %d: checkpoint %s is beyond the store's head %s; rebuild the projection (Reset)",
				ErrCheckpoint, w.p.Name, w.version, row.pos, page.Next)}
		}
	}
	return nil
}

// unparked drops the events of parked streams: they are held.
func (w *worker) unparked(events []chronicle.Event) []chronicle.Event {
	out := make([]chronicle.Event, 0, len(events))
	for _, ev := range events {
		if _, held := w.parked[ev.Stream]; !held {
			out = append(out, ev)
		}
	}
	return out
}

// apply applies events and moves the checkpoint to next, retrying failures;
// when every retry failed it stops the projection or parks the stream of the
// failing event.
func (w *worker) apply(ctx, hard context.Context, events []chronicle.Event, next chronicle.Position, replaying bool) error {
	err := w.retry(ctx, hard, w.r.opts.Retry.Attempts, func() error { return w.commit(hard, events, next, replaying) })
	if err == nil || isControl(err) || ctx.Err() != nil {
		return err
	}
	if replaying || w.r.opts.OnFailure == Stop {
		return &failure{err}
	}
	// Find the failing event by applying the events one at a time.
	for len(events) > 0 {
		ev := events[0]
		one := events[:1]
		err := w.retry(ctx, hard, w.r.opts.Retry.Attempts, func() error { return w.commit(hard, one, ev.Position, false) })
		if err != nil {
			if isControl(err) || ctx.Err() != nil {
				return err
			}
			if err := w.park(hard, ev, err, w.r.opts.Retry.Attempts); err != nil {
				return err
			}
		}
		rest := events[1:]
		if _, held := w.parked[ev.Stream]; held {
			rest = w.unparked(rest)
		}
		events = rest
	}
	if scan, _ := w.current(); scan.Before(next) {
		w.set(func() { w.scan = next })
	}
	return nil
}

// retry runs f up to attempts times, waiting between failures as the retry
// policy says and keeping the lease meanwhile. It gives up early on control
// errors and when ctx ends.
func (w *worker) retry(ctx, hard context.Context, attempts int, f func() error) error {
	var err error
	for n := 1; ; n++ {
		if err = f(); err == nil || isControl(err) {
			return err
		}
		w.set(func() { w.lastErr = err.Error() })
		if n >= attempts {
			return err
		}
		w.logger().warn("batch failed, retrying", err, "attempt", n)
		if perr := w.pause(ctx, hard, w.r.opts.Retry.wait(n)); perr != nil {
			return perr
		}
		if ctx.Err() != nil {
			return err
		}
	}
}

// pause waits d, or until ctx ends, renewing the lease when it is due.
func (w *worker) pause(ctx, hard context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for ctx.Err() == nil {
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		sleep(ctx, min(left, max(time.Until(w.renewAt), time.Millisecond)), nil)
		if time.Now().After(w.renewAt) {
			if err := w.renew(hard); err != nil {
				return err
			}
		}
	}
	return nil
}

// check locks the projection's row in tx and verifies that this runner
// still holds it at the checkpoint it knows.
func (w *worker) check(ctx context.Context, tx *sql.Tx) error {
	var stage, owner string
	var pc, pp int64
	if err := tx.QueryRowContext(ctx, w.r.d.lock, w.p.Name, w.version).Scan(&stage, &pc, &pp, &owner); err != nil {
		return err
	}
	return w.mismatch(Stage(stage), owner, chronicle.Position{Commit: uint64(pc), Prepare: uint64(pp)})
}

// mismatch returns the control error that says how a projection row of
// that stage, owner and checkpoint differs from what the worker holds, or
// nil when it does not.
func (w *worker) mismatch(stage Stage, owner string, pos chronicle.Position) error {
	switch {
	case stage == Retired:
		return errRetired
	case owner != w.r.owner:
		return errLeaseLost
	case pos != w.dbScan:
		return errMoved
	}
	return nil
}

// commit applies one batch: for an SQL projection in one transaction with
// the checkpoint; for a plain one, the handler first and the checkpoint
// after it.
func (w *worker) commit(ctx context.Context, events []chronicle.Event, next chronicle.Position, replaying bool) error {
	var start time.Time
	hooks := w.r.store.Hooks()
	if hooks != nil && hooks.ProjectionBatch != nil {
		start = time.Now()
	}
	b := Batch{Name: w.p.Name, Version: w.version, Replaying: replaying, Events: events}
	if w.p.Handle != nil {
		if err := w.p.Handle(ctx, b); err != nil {
			return fmt.Errorf("handler: %w", err)
		}
	}
	var stmts *Statements
	if w.p.Exec != nil {
		stmts = &Statements{}
		if err := w.p.Exec(ctx, stmts, b); err != nil {
			return fmt.Errorf("handler: %w", err)
		}
	}
	last := events[len(events)-1]
	var err error
	if stmts != nil && w.r.pipe != nil {
		err = w.pipeline(ctx, stmts, next, last)
	} else {
		err = w.r.tx(ctx, func(tx *sql.Tx) error {
			if err := w.applyTx(ctx, tx, b, stmts); err != nil {
				return err
			}
			return w.advance(ctx, tx, next, last)
		})
	}
	if err != nil {
		return err
	}
	if !start.IsZero() { // before WaitFor's callers hear of the batch
		d := time.Since(start) // the batch, not the look-up of the head for Behind
		hooks.ProjectionBatch(chronicle.ProjectionBatchInfo{Name: w.p.Name, Version: w.version, Events: len(events),
			Checkpoint: next, Replaying: replaying, Lag: max(0, time.Since(last.Time)), Behind: w.behind(ctx, next),
			Duration: d})
	}
	w.dbScan = next
	w.set(func() { w.scan, w.lastErr = next, "" })
	return nil
}

// behind returns how many events of the global stream lie after the
// checkpoint next, up to the head that the last page's read saw, for
// [chronicle.ProjectionBatchInfo].Behind: 0 when that read reached the
// head and next is at it; otherwise counted when the backend's positions
// count events (after a full page, the head is looked up), else -1.
func (w *worker) behind(ctx context.Context, next chronicle.Position) int64 {
	head := w.readHead
	if !head.IsZero() && !next.Before(head) {
		return 0
	}
	counter, ok := w.r.store.Backend().(chronicle.PositionCounter)
	if !ok {
		return -1
	}
	if head.IsZero() {
		var err error
		if head, err = w.r.store.Head(ctx); err != nil {
			return -1
		}
	}
	return max(0, counter.EventsBetween(next, head))
}

// applyTx applies b in tx with the projection's SQL handler, or runs the
// statements its Exec handler added (stmts), if it has either.
func (w *worker) applyTx(ctx context.Context, tx *sql.Tx, b Batch, stmts *Statements) error {
	switch {
	case w.p.SQL != nil:
		if err := w.p.SQL(ctx, tx, b); err != nil {
			return fmt.Errorf("handler: %w", err)
		}
	case stmts != nil:
		for i, q := range stmts.queries {
			if _, err := tx.ExecContext(ctx, q, stmts.args[i]...); err != nil {
				return fmt.Errorf("handler: statement %d: %w", i+1, err)
			}
		}
	}
	return nil
}

// pipeline moves the checkpoint to next and runs stmts in one transaction
// in one round trip (PostgreSQL). The checkpoint's statement comes first
// and fails when this runner no longer holds the projection at the
// checkpoint it knows, which rolls everything back; pipeline then returns
// the control error that says why.
func (w *worker) pipeline(ctx context.Context, stmts *Statements, next chronicle.Position, last chronicle.Event) error {
	queries := append([]string{w.r.d.advanceCheck}, stmts.queries...)
	args := append([][]any{w.advanceArgs(next, last)}, stmts.args...)
	i, err := w.r.pipes.exec(ctx, w.r.pipe, queries, args)
	if err == nil {
		return nil
	}
	// Whatever failed, the checkpoint may have moved under this runner.
	cur, rerr := w.row(ctx, w.r.db)
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	if cerr := w.mismatch(cur.stage, cur.owner, cur.pos); cerr != nil {
		return cerr
	}
	if i >= 1 && i <= len(stmts.queries) {
		return fmt.Errorf("handler: statement %d: %w", i, err)
	}
	return err
}

// advanceArgs are the arguments of the statement that moves the checkpoint.
func (w *worker) advanceArgs(next chronicle.Position, last chronicle.Event) []any {
	return []any{int64(next.Commit), int64(next.Prepare),
		int64(last.Position.Commit), int64(last.Position.Prepare), last.ID,
		w.r.opts.LeaseTTL.Milliseconds(), nowNS(), w.p.Name, w.version,
		w.r.owner, int64(w.dbScan.Commit), int64(w.dbScan.Prepare)}
}

// advance moves the checkpoint to next, with last as the last event
// applied, provided this runner still holds the projection at the
// checkpoint it knows (the update locks the row until tx ends); else it
// returns the control error that says why not, and tx must roll back.
func (w *worker) advance(ctx context.Context, tx *sql.Tx, next chronicle.Position, last chronicle.Event) error {
	res, err := tx.ExecContext(ctx, w.r.d.advance, w.advanceArgs(next, last)...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	if err := w.check(ctx, tx); err != nil {
		return err
	}
	return errMoved
}

// park records ev's stream as parked and moves the checkpoint to ev.
func (w *worker) park(ctx context.Context, ev chronicle.Event, cause error, attempts int) error {
	p := ParkedStream{Name: w.p.Name, Version: w.version, Stream: ev.Stream, Position: ev.Position, EventID: ev.ID,
		EventVersion: ev.Version, EventType: ev.Type, Error: cause.Error(), Attempts: attempts, Time: time.Now().UTC()}
	err := w.r.tx(ctx, func(tx *sql.Tx) error {
		if err := w.check(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, w.r.d.parkedInsert, p.Name, p.Version, p.Stream, int64(p.Position.Commit), int64(p.Position.Prepare),
			p.EventID, p.EventVersion, p.EventType, p.Error, p.Attempts, p.Time.UnixNano()); err != nil {
			return err
		}
		if err := w.r.logTx(ctx, tx, p.Name, p.Version, "parked", p.Stream, p.Position, p.EventID, p.Error); err != nil {
			return err
		}
		return w.advance(ctx, tx, ev.Position, ev)
	})
	if err != nil {
		return err
	}
	w.logger().warn("stream parked", cause, "stream", ev.Stream, "position", ev.Position.String(), "event", ev.ID)
	w.parked[ev.Stream] = p
	w.dbScan = ev.Position
	w.set(func() { w.scan = ev.Position })
	return nil
}

// resolveRequests carries out the retry and skip requests recorded on
// parked streams.
func (w *worker) resolveRequests(ctx, hard context.Context) error {
	rs, err := w.r.db.QueryContext(hard, w.r.d.parkedRequests, w.p.Name, w.version)
	if err != nil {
		return err
	}
	type req struct{ stream, action string }
	var reqs []req
	for rs.Next() {
		var q req
		if err := rs.Scan(&q.stream, &q.action); err != nil {
			rs.Close()
			return err
		}
		reqs = append(reqs, q)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	for _, q := range reqs {
		err := w.resolve(ctx, hard, q.stream, q.action == "skip")
		if isControl(err) {
			return err
		}
		w.answer(q.stream, err)
	}
	return nil
}

// resolve applies a parked stream's held events (after skipping the failed
// one when skip is set) and un-parks it; on failure the stream stays parked
// at the event that failed, with the error.
func (w *worker) resolve(ctx, hard context.Context, stream string, skip bool) error {
	ps, err := w.r.parked(hard, w.r.db, w.p.Name, w.version)
	if err != nil {
		return err
	}
	var p *ParkedStream
	for i := range ps {
		if ps[i].Stream == stream {
			p = &ps[i]
		}
	}
	if p == nil {
		delete(w.parked, stream)
		return fmt.Errorf("%w: %q in %s", ErrNotParked, stream, w.p.Name)
	}
	scan, _ := w.current()
	var held []chronicle.Event
	for ev, err := range w.r.store.Read(hard, stream, p.EventVersion-1, &chronicle.ReadOptions{Filter: w.p.Filter}) {
		if err != nil {
			return err
		}
		if scan.Before(ev.Position) {
			break
		}
		held = append(held, ev)
	}
	action := "retried"
	if skip {
		action = "skipped"
		if len(held) > 0 && held[0].ID == p.EventID {
			held = held[1:]
		}
	}
	size := w.r.opts.BatchSize
	for {
		chunk := held[:min(len(held), size)]
		rest := held[len(chunk):]
		last := len(rest) == 0
		b := Batch{Name: w.p.Name, Version: w.version, Events: chunk}
		var cause error
		var stmts *Statements
		switch {
		case len(chunk) == 0:
		case w.p.Handle != nil:
			cause = w.p.Handle(hard, b)
		case w.p.Exec != nil:
			stmts = &Statements{}
			cause = w.p.Exec(hard, stmts, b)
		}
		var err error
		if cause == nil {
			err = w.r.tx(hard, func(tx *sql.Tx) error {
				if err := w.check(hard, tx); err != nil {
					return err
				}
				if len(chunk) > 0 {
					if cause = w.applyTx(hard, tx, b, stmts); cause != nil {
						return cause
					}
				}
				if !last {
					next := rest[0]
					_, err := tx.ExecContext(hard, w.r.d.parkedUpdate, int64(next.Position.Commit), int64(next.Position.Prepare), next.ID,
						next.Version, next.Type, p.Error, p.Attempts, time.Now().UnixNano(), w.p.Name, w.version, stream)
					return err
				}
				if _, err := tx.ExecContext(hard, w.r.d.parkedDelete, w.p.Name, w.version, stream); err != nil {
					return err
				}
				if err := w.r.logTx(hard, tx, w.p.Name, w.version, action, stream, p.Position, p.EventID, ""); err != nil {
					return err
				}
				if scan == w.dbScan {
					return nil
				}
				// The stored checkpoint may lag the examined one past events
				// of parked streams: move it with the un-parking, or a
				// restart would apply this stream's held events again.
				res, err := tx.ExecContext(hard, w.r.d.progress, int64(scan.Commit), int64(scan.Prepare), w.r.opts.LeaseTTL.Milliseconds(), nowNS(),
					w.p.Name, w.version, w.r.owner, int64(w.dbScan.Commit), int64(w.dbScan.Prepare))
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil || n != 1 {
					return cmp.Or(err, errMoved)
				}
				return nil
			})
		}
		if cause != nil {
			if len(chunk) > 1 {
				size = 1 // find the event that fails
				continue
			}
			// Still parked, at the event that failed: record the attempt.
			failed := chunk[0]
			_, err = w.r.db.ExecContext(hard, w.r.d.parkedUpdate, int64(failed.Position.Commit), int64(failed.Position.Prepare), failed.ID,
				failed.Version, failed.Type, cause.Error(), p.Attempts+1, time.Now().UnixNano(), w.p.Name, w.version, stream)
			if err != nil {
				return err
			}
			return fmt.Errorf("projection: %s: stream %q stays parked: %w", w.p.Name, stream, cause)
		}
		if err != nil {
			return err
		}
		held = rest
		if last {
			w.dbScan = scan
			delete(w.parked, stream)
			w.logger().info("parked stream resumed", "stream", stream, "action", action)
			return nil
		}
		p.Position, p.EventID = rest[0].Position, rest[0].ID
	}
}

// markCaughtUp records that the version reached the head, and switches to
// it when it was being built and Options.AutoSwitch is set.
func (w *worker) markCaughtUp(ctx context.Context) error {
	res, err := w.r.db.ExecContext(ctx, w.r.d.setCaughtUp, nowNS(), w.p.Name, w.version, w.r.owner,
		int64(w.dbScan.Commit), int64(w.dbScan.Prepare))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return w.why(ctx) // a Reset (say) came first: this is no longer the head of that replay
	}
	w.set(func() { w.caughtUp = true })
	w.r.mu.Lock()
	stage := w.stage
	w.r.mu.Unlock()
	w.logger().info("caught up", "stage", string(stage))
	if w.r.opts.OnCaughtUp != nil {
		w.r.opts.OnCaughtUp(w.p.Name, w.version)
	}
	if stage == Building && w.r.opts.AutoSwitch {
		if err := w.r.Switch(ctx, w.p.Name); err != nil {
			w.logger().warn("switch", err)
		}
	}
	return nil
}

// renew extends the lease and records the progress made past events the
// filter skipped.
func (w *worker) renew(ctx context.Context) error {
	ttl := w.r.opts.LeaseTTL.Milliseconds()
	scan, _ := w.current()
	var res sql.Result
	var err error
	if scan != w.dbScan {
		res, err = w.r.db.ExecContext(ctx, w.r.d.progress, int64(scan.Commit), int64(scan.Prepare), ttl, nowNS(),
			w.p.Name, w.version, w.r.owner, int64(w.dbScan.Commit), int64(w.dbScan.Prepare))
	} else {
		res, err = w.r.db.ExecContext(ctx, w.r.d.renew, ttl, w.p.Name, w.version, w.r.owner,
			int64(w.dbScan.Commit), int64(w.dbScan.Prepare))
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return w.why(ctx)
	}
	w.dbScan = scan
	w.renewAt = time.Now().Add(w.r.opts.LeaseTTL / 3)
	return nil
}

// why reads the projection's row after a guarded update changed nothing,
// and returns the control error that says what changed under the worker:
// another runner holds it, a Switch retired it, or a Reset (or another
// caller) moved its checkpoint.
func (w *worker) why(ctx context.Context) error {
	row, err := w.row(ctx, w.r.db)
	if err != nil {
		return err
	}
	return cmp.Or(w.mismatch(row.stage, row.owner, row.pos), errMoved)
}

// persistProgress records progress past skipped events on the way out.
func (w *worker) persistProgress(ctx context.Context) {
	w.r.mu.Lock()
	leased := w.leased
	w.r.mu.Unlock()
	if scan, _ := w.current(); leased && scan != w.dbScan && ctx.Err() == nil {
		_ = w.renew(ctx)
	}
}

// fail records the error that stopped the projection.
func (w *worker) fail(ctx context.Context, err error) {
	w.logger().error("projection failed", err)
	msg := err.Error()
	w.set(func() { w.state, w.lastErr, w.started = Failed, msg, true })
	w.answerAll(fmt.Errorf("%w: %s version %d: %s", ErrFailed, w.p.Name, w.version, msg))
	_ = w.r.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, w.r.d.fail, msg, nowNS(), w.p.Name, w.version, w.r.owner); err != nil {
			return err
		}
		scan, _ := w.current()
		return w.r.logTx(ctx, tx, w.p.Name, w.version, "failed", "", scan, "", msg)
	})
}

// idleFailed keeps a failed projection's lease, so that other runners do
// not run into the same error, until ctx ends (false) or a Reset clears the
// failure (true): one made by any runner, or one requested through an
// Admin, which this worker carries out.
func (w *worker) idleFailed(ctx, hard context.Context) bool {
	for {
		sleep(ctx, w.r.opts.LeaseTTL/3, w.pokeCh)
		if ctx.Err() != nil {
			return false
		}
		row, err := w.row(hard, w.r.db)
		if err != nil {
			continue
		}
		if row.failure == "" || row.owner != w.r.owner {
			w.set(func() { w.state, w.lastErr = Stopped, "" })
			return true
		}
		var f *failure
		switch err := w.takeReset(hard); {
		case errors.Is(err, errMoved):
			w.set(func() { w.state, w.lastErr = Stopped, "" })
			return true
		case errors.As(err, &f):
			w.fail(hard, f.err)
		case err != nil:
			w.logger().warn("requested reset", err)
		}
		if _, err := w.r.db.ExecContext(hard, w.r.d.keep, w.r.opts.LeaseTTL.Milliseconds(), w.p.Name, w.version, w.r.owner); err != nil {
			continue
		}
	}
}

// takeReset carries out the reset requested through an [Admin] for this
// version, if one is pending, as [Runner.Reset] would: in one transaction
// it moves the checkpoint back to the start, forgets the version's parked
// streams and failure, runs the projection's Reset function and logs the
// reset, which ends the request. It returns errMoved once it has reset the
// version (serving starts over, replaying), nil when there was nothing to
// do, and a failure when the Reset function failed: the transaction rolls
// back, the request stays pending, and this worker does not try it again
// until a new request (or a restart of the runner).
func (w *worker) takeReset(ctx context.Context) error {
	w.resetAt = time.Now().Add(w.r.opts.LeaseTTL / 3)
	seq, err := w.r.resetRequest(ctx, w.r.db, w.p.Name, w.version)
	if err != nil || seq == 0 || seq == w.resetFailed {
		return err
	}
	var fnErr error
	fn := w.p.Reset
	if fn != nil {
		fn = func(ctx context.Context, tx *sql.Tx, name string, version int) error {
			fnErr = w.p.Reset(ctx, tx, name, version)
			return fnErr
		}
	}
	var from chronicle.Position
	done := false
	err = w.r.tx(ctx, func(tx *sql.Tx) error {
		if err := w.r.lockName(ctx, tx, w.p.Name); err != nil {
			return err
		}
		// Another runner may have reset the version meanwhile.
		if seq, err = w.r.resetRequest(ctx, tx, w.p.Name, w.version); err != nil || seq == 0 {
			return err
		}
		cur, err := w.row(ctx, tx)
		if err != nil || cur.stage == Retired { // a retired version's request lapses
			return err
		}
		from, done = cur.pos, true
		return w.r.reset(ctx, tx, w.p.Name, w.version, from, fn)
	})
	switch {
	case fnErr != nil:
		w.resetFailed = seq
		return &failure{fmt.Errorf("requested reset: %w", fnErr)}
	case err != nil:
		return err
	case !done:
		return nil
	}
	w.logger().info("reset as requested", "checkpoint", from.String())
	w.dbScan = chronicle.Position{}
	w.set(func() { w.scan, w.caughtUp = chronicle.Position{}, false })
	return errMoved
}
