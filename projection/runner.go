package projection

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/internal/notify"
)

// Runner keeps projections up to date: one goroutine per projection
// version, each following the global stream from its checkpoint. Create it
// with [New], start it with [Runner.Run]. Its other methods may be called
// at any time, from any goroutine.
type Runner struct {
	tables // the store's projection tables
	opts   Options
	log    *slog.Logger
	owner  string
	projs  map[string]*Projection

	closed     chan struct{} // closed when a worker finds the store closed
	closedOnce sync.Once

	mu       sync.Mutex
	running  bool             // Run was called
	ready    bool             // Run has started its workers
	workers  map[wkey]*worker // versions this runner runs (guarded by mu)
	progress notify.Broadcaster

	live  liveReads // reads shared by live workers
	pipe  pipeliner // the backend, when it pipelines Exec handlers' statements; else nil
	pipes pipeGroup // Exec handlers' pipelines ready at once, sent together
}

// pipeliner is a backend that runs statements as one transaction in one
// round trip: package postgres.
type pipeliner interface {
	ExecBatch(ctx context.Context, queries []string, args [][]any) (failed int, err error)
}

type wkey struct {
	name    string
	version int
}

// New returns a runner for projections over store, which must run on a
// backend with a SQL database (packages sqlite and postgres). The
// projections' names must be distinct. opts may be nil.
func New(store *chronicle.Store, opts *Options, projections ...Projection) (*Runner, error) {
	t, sb, err := newTables(store)
	if err != nil {
		return nil, err
	}
	d := t.d
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.DurableCommits {
		d.advance = d.advanceDurable
	}
	if d.name == "postgres" {
		// In a pipeline the statement that moves the checkpoint must fail
		// when it moves nothing, so that the transaction rolls back.
		d.advanceCheck = "WITH moved AS (" + d.advance + " RETURNING 1) SELECT 1 / count(*)::int FROM moved"
	}
	switch {
	case o.BatchSize < 0:
		return nil, fmt.Errorf("projection: %w: BatchSize %d is negative", chronicle.ErrInvalid, o.BatchSize)
	case o.LeaseTTL < 0 || (o.LeaseTTL > 0 && o.LeaseTTL < 10*time.Millisecond):
		return nil, fmt.Errorf("projection: %w: LeaseTTL %v, want 0 or at least 10ms", chronicle.ErrInvalid, o.LeaseTTL)
	case o.ShutdownTimeout < 0:
		return nil, fmt.Errorf("projection: %w: ShutdownTimeout %v is negative", chronicle.ErrInvalid, o.ShutdownTimeout)
	case o.OnFailure != Park && o.OnFailure != Stop:
		return nil, fmt.Errorf("projection: %w: OnFailure %d", chronicle.ErrInvalid, o.OnFailure)
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	o.Retry = o.Retry.withDefaults()
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])
	}
	r := &Runner{tables: t, opts: o, log: o.Logger, owner: o.Owner,
		projs: make(map[string]*Projection), workers: make(map[wkey]*worker), closed: make(chan struct{})}
	if p, ok := sb.(pipeliner); ok && d.advanceCheck != "" {
		r.pipe = p
	}
	for i := range projections {
		p := projections[i]
		if err := p.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.projs[p.Name]; dup {
			return nil, fmt.Errorf("projection: %w: two projections named %q", chronicle.ErrInvalid, p.Name)
		}
		r.projs[p.Name] = &p
	}
	return r, nil
}

// Owner returns the name of this runner in the store.
func (r *Runner) Owner() string { return r.owner }

// Run runs the projections until ctx ends, then waits for the batches in
// flight to commit or roll back (at most Options.ShutdownTimeout), releases
// the runner's leases and returns nil. If the store is closed first, Run
// stops the same way and returns an error matching [chronicle.ErrClosed]:
// stop the runner before closing the store. Each projection version runs in the
// one runner of the store that holds its lease; the others stand by and
// take over when that runner stops or dies (see Options.LeaseTTL).
//
// Run registers each projection's version in the store: a new projection
// starts from the beginning as the active version; a version above the
// active one is built beside it (stage [Building]) until it is switched to.
// Run fails at once when a projection's version is below the store's
// active version (the application runs older code than the store has
// seen). It may be called once.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("projection: Run called twice")
	}
	r.running = true
	r.mu.Unlock()

	names := make([]string, 0, len(r.projs))
	for name := range r.projs {
		names = append(names, name)
	}
	slices.Sort(names)
	var versions []wkey
	for _, name := range names {
		vs, err := r.register(ctx, r.projs[name])
		if err != nil {
			r.mu.Lock()
			r.ready = true // nothing will start: WaitFor reads the store
			r.mu.Unlock()
			r.progress.Broadcast()
			if ctx.Err() != nil {
				return nil // stopped before it started
			}
			return err
		}
		for _, v := range vs {
			versions = append(versions, wkey{name, v})
		}
	}

	// Work goes on past ctx's end until the batches in flight are done, or
	// ShutdownTimeout has passed.
	hard, hardCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hardCancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(r.opts.ShutdownTimeout, hardCancel)
		context.AfterFunc(hard, func() { t.Stop() })
	})
	defer stop()

	var wg sync.WaitGroup
	for _, k := range versions {
		w := r.newWorker(r.projs[k.name], k.version)
		wg.Go(func() { w.run(ctx, hard) })
	}
	r.mu.Lock()
	r.ready = true
	r.mu.Unlock()
	var err error
	select {
	case <-ctx.Done(): // versions may retire before; Run lasts until ctx ends
	case <-r.closed:
		err = fmt.Errorf("projection: %w", chronicle.ErrClosed)
	}
	wg.Wait()
	r.progress.Broadcast()
	return err
}

// storeClosed reports whether the store has been closed, and if so stops
// the runner: its workers end and Run returns.
func (r *Runner) storeClosed(ctx context.Context) bool {
	if _, err := r.store.Head(ctx); !errors.Is(err, chronicle.ErrClosed) {
		return false
	}
	r.closedOnce.Do(func() { close(r.closed) })
	return true
}

// register records the projection in the store and returns the versions of
// it that this runner runs: the registered one, and the active one when the
// registered version is being built beside it.
func (r *Runner) register(ctx context.Context, p *Projection) ([]int, error) {
	var out []int
	err := r.tx(ctx, func(tx *sql.Tx) error {
		if err := r.lockName(ctx, tx, p.Name); err != nil {
			return err
		}
		rows, err := r.rows(ctx, tx, p.Name)
		if err != nil {
			return err
		}
		active, mine := 0, false
		for _, row := range rows {
			switch {
			case row.version == p.Version:
				mine = row.stage != Retired
			case row.stage == Active:
				active = row.version
			case row.stage == Building && row.version < p.Version:
				// An unfinished build of an older version: the new one
				// replaces it.
				if _, err := tx.ExecContext(ctx, r.d.setStage, string(Retired), nowNS(), p.Name, row.version); err != nil {
					return err
				}
				if err := r.logTx(ctx, tx, p.Name, row.version, "retired", "", chronicle.Position{}, "", fmt.Sprintf("replaced by version %d", p.Version)); err != nil {
					return err
				}
			}
		}
		for _, row := range rows {
			if row.version == p.Version && row.stage == Retired {
				return fmt.Errorf("projection: %w: %s version %d was retired; register a newer version", chronicle.ErrInvalid, p.Name, p.Version)
			}
		}
		if active > p.Version {
			return fmt.Errorf("projection: %w: %s version %d is older than the store's active version %d", chronicle.ErrInvalid, p.Name, p.Version, active)
		}
		if !mine {
			stage := Active
			if active != 0 {
				stage = Building
			}
			if _, err := tx.ExecContext(ctx, r.d.insert, p.Name, p.Version, string(stage), nowNS()); err != nil {
				return err
			}
		}
		out = []int{p.Version}
		if active != 0 && active != p.Version {
			out = append(out, active)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projection: register %s: %w", p.Name, err)
	}
	return out, nil
}

// known returns ErrUnknown unless the runner has a projection of that name.
func (r *Runner) known(name string) error {
	if _, ok := r.projs[name]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	return nil
}

// worker returns the running worker of a version, or nil.
func (r *Runner) worker(name string, version int) *worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.workers[wkey{name, version}]
}

// remotePoll is how often WaitFor reads the checkpoint of a projection that
// runs in another process, between the store's notifications.
const remotePoll = 100 * time.Millisecond

// WaitFor returns once each named projection (all of the runner's when
// none is named) has processed every event up to pos (typically a position
// that [chronicle.Store.Append] returned): its active version's checkpoint
// has reached pos, so a query of its read model sees the effect of that
// append. Events of parked streams count as processed (they are held; see
// [Runner.Parked]). It returns ctx's error when ctx ends first, and an
// error matching [ErrFailed] when a projection has stopped on an error.
//
// Projections that this runner runs wake it as they commit. For those run
// by another runner of the store (another process) it reads their
// checkpoints when the store notices a commit (see
// [chronicle.Store.Notify]) and at least every 100ms.
func (r *Runner) WaitFor(ctx context.Context, pos chronicle.Position, names ...string) error {
	if len(names) == 0 {
		for name := range r.projs {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if _, ok := r.projs[name]; !ok {
			return fmt.Errorf("%w: %q", ErrUnknown, name)
		}
	}
	var tick *time.Ticker
	for {
		wake := r.progress.Wait()
		storeWake := r.store.Notify()
		pending, remote, err := r.reached(pos, names)
		if err != nil {
			return err
		}
		if len(pending) == 0 && len(remote) == 0 {
			return nil
		}
		if len(remote) > 0 {
			done := true
			for _, name := range remote {
				rows, err := r.rows(ctx, r.db, name)
				if err != nil {
					return fmt.Errorf("projection: wait for %s: %w", name, err)
				}
				reached := false // no active version yet: Run has not registered it
				for _, w := range rows {
					if w.stage != Active {
						continue
					}
					if w.failure != "" {
						return fmt.Errorf("%w: %s version %d: %s", ErrFailed, name, w.version, w.failure)
					}
					reached = w.pos.Compare(pos) >= 0
				}
				done = done && reached
			}
			if done && len(pending) == 0 {
				return nil
			}
			if tick == nil {
				// Another process's checkpoint commits wake the store's
				// notifier on SQLite (within its PollInterval) but not
				// on PostgreSQL: look again at least this often.
				tick = time.NewTicker(min(r.opts.LeaseTTL/3, remotePoll))
				defer tick.Stop()
			}
		}
		var tc <-chan time.Time
		if tick != nil {
			tc = tick.C
		}
		select {
		case <-wake:
		case <-storeWake:
		case <-tc:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reached sorts names into those whose local active worker has not reached
// pos (pending) and those that run elsewhere (remote).
func (r *Runner) reached(pos chronicle.Position, names []string) (pending, remote []string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range names {
		var act *worker
		starting := false
		for k, w := range r.workers {
			if k.name != name {
				continue
			}
			if !w.started && !w.exited {
				starting = true // not yet known whether it runs here
			}
			if w.stage == Active && (w.leased || w.state == Failed) {
				act = w
			}
		}
		switch {
		case starting || (r.running && !r.ready):
			pending = append(pending, name)
		case act == nil:
			remote = append(remote, name)
		case act.state == Failed:
			return nil, nil, fmt.Errorf("%w: %s version %d: %s", ErrFailed, name, act.version, act.lastErr)
		case act.scan.Compare(pos) < 0:
			pending = append(pending, name)
		}
	}
	return pending, remote, nil
}

// Status returns the status of every version of the runner's projections
// that the store knows (active, building and retired), in name and version
// order. The versions this runner holds are described as it knows them;
// the others as the store records them, as [Admin.Status] does.
func (r *Runner) Status(ctx context.Context) ([]Status, error) {
	keep := func(name string) bool { return r.known(name) == nil }
	return r.status(ctx, keep, func(st *Status) {
		lw := r.worker(st.Name, st.Version)
		if lw == nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if lw.leased {
			st.State, st.Checkpoint, st.CaughtUp, st.Owner = lw.state, lw.scan, lw.caughtUp, r.owner
			if lw.lastErr != "" {
				st.Error = lw.lastErr
			}
		}
	})
}

// Parked returns the parked streams of the named projection's active
// version, oldest first.
func (r *Runner) Parked(ctx context.Context, name string) ([]ParkedStream, error) {
	if err := r.known(name); err != nil {
		return nil, err
	}
	return r.activeParked(ctx, name)
}

// Log returns what was recorded of the named projection (all versions):
// parked, retried and skipped events, resets and reset requests, switches,
// retirements and failures, oldest first.
func (r *Runner) Log(ctx context.Context, name string) ([]LogEntry, error) {
	if err := r.known(name); err != nil {
		return nil, err
	}
	return r.logEntries(ctx, name)
}

// Retry asks the named projection to apply a parked stream's held events
// again, from the event that failed. When this runner runs the projection,
// Retry waits for the outcome: nil when they were applied and the stream
// flows again, else the error (the stream stays parked, the attempt is
// counted). When another runner holds the projection, the request is
// recorded and carried out there, and Retry returns nil at once.
func (r *Runner) Retry(ctx context.Context, name, stream string) error {
	return r.request(ctx, name, stream, "retry")
}

// Skip asks the named projection to skip the failed event of a parked
// stream (recorded in the log) and to apply the stream's later held events.
// It reports like [Runner.Retry]; if a later event fails, the stream is
// parked again at that event.
func (r *Runner) Skip(ctx context.Context, name, stream string) error {
	return r.request(ctx, name, stream, "skip")
}

func (r *Runner) request(ctx context.Context, name, stream, action string) error {
	if err := r.known(name); err != nil {
		return err
	}
	act, err := r.activeVersion(ctx, name)
	if err != nil {
		return err
	}
	// Wait for the outcome only when this runner serves the projection;
	// register before recording the request, so the answer cannot come
	// first.
	var done chan error
	w := r.worker(name, act.version)
	if w != nil {
		r.mu.Lock()
		if w.leased && !w.exited && w.state != Failed {
			done = make(chan error, 1)
			w.waiters[stream] = append(w.waiters[stream], done)
		}
		r.mu.Unlock()
	}
	unwait := func() {
		if done == nil {
			return
		}
		r.mu.Lock()
		w.waiters[stream] = slices.DeleteFunc(w.waiters[stream], func(c chan error) bool { return c == done })
		r.mu.Unlock()
	}
	if err := r.tables.request(ctx, name, act.version, stream, action); err != nil {
		unwait()
		return err
	}
	if done == nil {
		return nil
	}
	w.poke()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		unwait()
		return ctx.Err()
	}
}

// Reset moves a version of the named projection back to the start of the
// store: the version this runner registers (Projection.Version) when the
// store has it — the active one, or a new one being built beside it — else
// the active one. In one transaction it also forgets the version's parked
// streams and failure, runs the projection's Reset function (to clear its
// read model) and records the reset; the version then replays everything
// (its batches say Replaying). The runner that holds the version notices at
// once when it is this one, else within a third of Options.LeaseTTL. A
// reset that an [Admin] requested for that version is thereby done.
func (r *Runner) Reset(ctx context.Context, name string) error {
	p, ok := r.projs[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	var version int
	err := r.tx(ctx, func(tx *sql.Tx) error {
		if err := r.lockName(ctx, tx, name); err != nil {
			return err
		}
		rows, err := r.rows(ctx, tx, name)
		if err != nil {
			return err
		}
		var at chronicle.Position
		for _, w := range rows {
			if w.version == p.Version && w.stage != Retired || version == 0 && w.stage == Active {
				version, at = w.version, w.pos
			}
		}
		if version == 0 {
			return fmt.Errorf("%w: %q has no version in the store yet (Run registers it)", ErrUnknown, name)
		}
		return r.reset(ctx, tx, name, version, at, p.Reset)
	})
	if err != nil {
		if errors.Is(err, ErrUnknown) {
			return err
		}
		return fmt.Errorf("projection: reset %s: %w", name, err)
	}
	if w := r.worker(name, version); w != nil {
		w.poke()
	}
	return nil
}

// Switch makes the newest version of the named projection that is being
// built the active one, and retires the version that was active (its
// runner stops it; its read model is left to the application to drop). It
// fails with [ErrNotCaughtUp] when that version has not reached the head
// yet, and with [ErrUnknown] when no version is being built.
func (r *Runner) Switch(ctx context.Context, name string) error {
	if _, ok := r.projs[name]; !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	var from, to int
	err := r.tx(ctx, func(tx *sql.Tx) error {
		if err := r.lockName(ctx, tx, name); err != nil {
			return err
		}
		rows, err := r.rows(ctx, tx, name)
		if err != nil {
			return err
		}
		var building *row
		from = 0
		for i := range rows {
			switch rows[i].stage {
			case Active:
				from = rows[i].version
			case Building:
				building = &rows[i]
			}
		}
		if building == nil {
			return fmt.Errorf("%w: %q has no version being built", ErrUnknown, name)
		}
		if !building.caughtUp {
			return fmt.Errorf("%w: %s version %d", ErrNotCaughtUp, name, building.version)
		}
		if building.failure != "" {
			return fmt.Errorf("%w: %s version %d: %s", ErrFailed, name, building.version, building.failure)
		}
		to = building.version
		for _, st := range []struct {
			version  int
			from, to Stage
		}{{from, Active, Retired}, {to, Building, Active}} {
			if st.version == 0 {
				continue
			}
			res, err := tx.ExecContext(ctx, r.d.setStageIf, string(st.to), nowNS(), name, st.version, string(st.from))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return cmp.Or(err, fmt.Errorf("%s version %d is no longer %s", name, st.version, st.from))
			}
		}
		return r.logTx(ctx, tx, name, to, "switched", "", chronicle.Position{}, "", fmt.Sprintf("from version %d", from))
	})
	if err != nil {
		if errors.Is(err, ErrUnknown) || errors.Is(err, ErrNotCaughtUp) || errors.Is(err, ErrFailed) {
			return err
		}
		return fmt.Errorf("projection: switch %s: %w", name, err)
	}
	r.log.Info("chronicle projection switched", "projection", name, "from", from, "to", to)
	r.mu.Lock()
	if w := r.workers[wkey{name, from}]; w != nil {
		w.stage = Retired
	}
	if w := r.workers[wkey{name, to}]; w != nil {
		w.stage = Active
	}
	r.mu.Unlock()
	r.progress.Broadcast()
	for _, v := range []int{from, to} {
		if w := r.worker(name, v); w != nil {
			w.poke()
		}
	}
	return nil
}
