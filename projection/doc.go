// Package projection keeps read models up to date from a Chronicle store:
// a runner that follows the global stream from each projection's durable
// checkpoint, applies events exactly once to tables in the store's own
// database, survives crashes and restarts, runs in several processes at once,
// parks poison events, rebuilds new versions beside the old ones, and lets a
// query wait until a command's effect is visible.
//
//	store, _ := sqlite.Open(ctx, "app.db", nil)
//	db, _ := sqlite.DB(store) // database/sql on the same file
//	db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS balances (account TEXT PRIMARY KEY, cents INTEGER NOT NULL)`)
//
//	runner, _ := projection.New(store, nil, projection.Projection{
//		Name: "balances", Version: 1,
//		Filter: chronicle.Filter{chronicle.StreamPrefix("account-")},
//		SQL: func(ctx context.Context, tx *sql.Tx, b projection.Batch) error {
//			for _, ev := range b.Events {
//				// upsert into balances with tx
//			}
//			return nil
//		},
//	})
//	go runner.Run(ctx)
//
//	res, _ := store.Append(ctx, "account-42", chronicle.Any, deposit)
//	runner.WaitFor(ctx, res.Positions[0], "balances") // read-your-writes
//	db.QueryRowContext(ctx, `SELECT cents FROM balances WHERE account = ?`, "account-42")
//
// # Exactly once
//
// An [SQLHandler] gets each batch with a transaction on the store's own
// database (sqlite.DB, postgres.DB: the same SQLite file, the same
// PostgreSQL database), and the runner moves the projection's checkpoint in
// that transaction. Whatever crashes when, an event is applied once: either
// the read model's changes and the checkpoint commit together, or neither
// does. Read models are ordinary tables written with database/sql, so sqlc,
// sqlx and the like work; keep them out of the names the store owns
// (chronicle_* in SQLite, the store's schema in PostgreSQL).
//
// An [ExecHandler] is the same, for read models whose batches are writes
// that need no results: it adds statements instead of running them, and
// the runner runs them with the checkpoint in one transaction; on
// PostgreSQL the statements, the checkpoint and the commit go to the server
// in one round trip, where an SQLHandler's transaction takes at least four:
//
//	Exec: func(ctx context.Context, stmts *projection.Statements, b projection.Batch) error {
//		for _, ev := range b.Events {
//			stmts.Add(`INSERT INTO balances (account, cents) VALUES ($1, $2)
//				ON CONFLICT (account) DO UPDATE SET cents = balances.cents + excluded.cents`, ev.Stream, amount(ev))
//		}
//		return nil
//	},
//
// On PostgreSQL the transaction commits without waiting for the disk
// (synchronous_commit = off for that transaction alone, unless
// Options.DurableCommits is set): a crash of the server may undo a
// projection's last commits, read-model changes and checkpoint together,
// and the runner applies those events again; events themselves are
// appended durably. On SQLite a commit is as durable as the store's
// (sqlite.Options.Synchronous).
//
// A [Handler] is for effects outside the database (e-mail, a broker): the
// checkpoint is recorded after it returns, so a crash between the two
// delivers the batch again. Deduplicate with the events' IDs or positions.
//
// # Catch-up, then live
//
// Each projection version runs in a goroutine of its own: from its
// checkpoint it reads the global stream in commit order, filtered in the
// database, in batches of up to Options.BatchSize events while catching up,
// then whatever each commit brought, woken by the store's notifier
// ([chronicle.Store.Notify]; no projection polls). Live projections of a
// runner share one read of each commit and filter it in Go. A slow or
// failed projection holds back no other, except that on PostgreSQL the
// live batches of Exec projections (up to 64 statements each) that are
// ready at the same moment go to the server as one transaction; should it
// fail, each is sent again on its own.
//
// # Several processes
//
// Every instance of an application may run the same projections: each
// projection version is held by one runner at a time through a lease in the
// store, renewed every third of Options.LeaseTTL; another runner takes over
// within LeaseTTL plus a third of it after the holder dies or stops.
// Exactly-once does not rest on the lease: every batch's transaction locks
// the projection's row and checks that this runner still holds it at the
// checkpoint it knows, so two runners can never both apply a batch.
//
// # Errors
//
// A failing batch is retried with exponential backoff ([RetryPolicy]). When
// every retry has failed, a live projection parks the failing event's
// stream: that event and the stream's later events are held (recorded in
// the store with the error and the number of attempts, see [Runner.Parked])
// while the other streams flow on, until [Runner.Retry] or [Runner.Skip],
// which are recorded too ([Runner.Log]). With Options.OnFailure = [Stop]
// the projection stops instead, and a projection that is replaying (see
// [Batch].Replaying) always stops: a rebuild must not leave events out. A
// stopped projection starts again when its runner restarts, or after
// [Runner.Reset].
//
// # Rebuilds without downtime
//
// Raising a projection's Version builds the new version from the start
// beside the old one, which keeps serving: the handler is told the version
// (write to balances_v2 while balances_v1 serves) and that it is replaying
// (suppress side effects). When the new version has reached the head,
// Options.OnCaughtUp says so and [Status] shows it; [Runner.Switch] (or
// Options.AutoSwitch) makes it the active version and retires the old one.
// [Runner.Reset] replays a version in place instead.
//
// # Operating without the handlers
//
// An [Admin] ([NewAdmin]) inspects and operates the projections of a store
// in a process that has not the application's projections, such as a
// command-line tool: the status of every version the store records, parked
// streams, the log, and Retry, Skip and Reset. It records requests that
// the runner holding the projection carries out: retries and skips as a
// runner's own are when another runner holds the projection, and a reset
// as a pending request ([Status].ResetRequested, "reset requested" in the
// log), because only the application has the Reset function that clears
// the read model. The runner that holds the version carries it out within
// about a third of Options.LeaseTTL, or when it takes the version if no
// runner holds it: exactly as [Runner.Reset], in one transaction with the
// Reset function, then it replays.
//
// # Read-your-writes
//
// [Runner.WaitFor] returns once the named projections have processed every
// event up to a position that [chronicle.Store.Append] returned, so a query
// right after a command sees its effect. Append returns positions for
// idempotent retries too, so a retried command can wait as well.
//
// # Checkpoints that prove themselves
//
// A checkpoint is a position plus the ID of the last event applied. At
// start the runner checks that this event is still at that position and
// that the store has reached the checkpoint; otherwise the projection stops
// with [ErrCheckpoint]. That happens when a store is restored from an older
// copy, loses its last commits (a power loss with SQLite's default
// synchronous=NORMAL), or is not the store the checkpoint came from: its
// positions would be reused by other events, and a plain position would
// skip them in silence. Rebuild the projection ([Runner.Reset]). Code that
// keeps checkpoints itself should follow the same rule: store the event's
// ID with its position and compare them before resuming; a
// [chronicle.Store.ReadAllPage] whose Next is before the checkpoint means
// the store is behind it.
//
// Positions also differ between backends and between PostgreSQL databases
// restored from a logical dump: after such a move, rebuild every
// projection.
//
// # Shutdown
//
// [Runner.Run] returns once its context has ended and the batches in flight
// have committed or rolled back (waiting at most Options.ShutdownTimeout);
// nothing is left half applied. Stop the runner before closing the store.
//
// # Tables
//
// The runner keeps its state in tables of the store's database, created by
// the backends' migrations: chronicle_projections,
// chronicle_projection_parked and chronicle_projection_log in SQLite, and
// projections, projection_parked and projection_log in the store's schema
// in PostgreSQL. Requests are kept there too: a retry or skip on its parked
// stream's row, and a reset that an Admin asked for as an entry of the log,
// pending while it is the latest "reset requested" or "reset" entry of its
// version.
//
// On PostgreSQL a batch's transaction is a writing transaction: like every
// writing transaction in the cluster, it holds back the store's global
// stream (and so every live watch and projection) until it ends. Keep
// handlers short; batches are bounded by Options.BatchSize. On SQLite a
// batch's transaction holds the file's write lock, so appends wait for it.
package projection
