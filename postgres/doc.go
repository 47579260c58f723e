// Package postgres is Chronicle's PostgreSQL backend: the same
// [chronicle.Store] as the embedded SQLite store, on a PostgreSQL server
// (13 or later) that several processes and machines can share.
//
//	store, err := postgres.Open(ctx, "postgres://app@db/app", nil)
//
// [Open] creates the store's tables in their own schema (Options.Schema,
// "chronicle" by default) and migrates them on later versions; several
// stores can share one database under different schemas.
//
// # The global order, without gaps
//
// Every event row records the ID of the transaction that appended it
// (pg_current_xact_id()) and a sequence number; its Position is the pair
// (transaction, sequence), and the global stream is read in that order, but
// only below the visibility frontier pg_snapshot_xmin(pg_current_snapshot()):
// every transaction with a smaller ID has ended, so no event can appear
// there later. A reader that continues from the last position it saw never
// skips an event committed out of order, which a plain sequence number
// would (transactions commit in another order than they take numbers).
//
// The price is that an event reaches the global stream (ReadAll, WatchAll)
// only once every transaction that started before it has ended, usually
// within milliseconds. A long-running writing transaction anywhere in the
// cluster holds back delivery (not appends) until it ends; set
// idle_in_transaction_session_timeout and watch for long transactions.
// Read, and the history that Watch replays before it goes live, are not
// held back: appends to one stream take its lock before their transaction
// gets its ID, so a stream's versions become visible, and sit in the
// global order, in version order. Live watches, of a stream or of the
// global stream, follow the global stream and are held back like it.
// ReadAll and WatchAll's start wait (up to Options.VisibilityWait) for this
// store's own acknowledged appends, so a read after an append sees it; with
// Options.ReplicaURL every read also waits for the standby to replay them.
//
// Transaction IDs survive physical replication and pg_upgrade, but not a
// logical dump and restore: positions saved before such a move (checkpoints
// of projections, global snapshots) do not apply after it; rebuild them
// from the zero position.
//
// # Differences from the SQLite store
//
// Metadata is stored as jsonb and comes back as PostgreSQL renders it: the
// same JSON object, but with keys in jsonb's order, whitespace normalized
// and duplicate keys collapsed. Filters match it exactly as on SQLite.
// jsonb cannot hold U+0000, so metadata with "\u0000" in a string is
// refused with chronicle.ErrInvalid.
//
// An append is one round trip (its stream's lock and one statement)
// committed on its own. When its context ends while it runs, PostgreSQL
// may have committed it or not, and the error cannot say which: retry it
// with the same event IDs, which is safe (an event whose ID is already in
// the stream is not written again).
//
// WatchAll from chronicle.EndPosition starts at the frontier, so it may
// also deliver events of other processes that committed just before it
// started, in transactions that had not ended when it looked.
//
// # Watches
//
// Appends through a store wake its own watchers at once. Other processes
// learn of them through pg_notify, sent after the commit (never inside the
// append's transaction) at most once every 10 ms, on one LISTEN
// connection per store that reconnects after failures; a poll every
// Options.PollInterval catches everything else. Behind a pooler in
// transaction mode (PgBouncer), use OpenPool with a pool configured for it
// and set Options.DisableListen: watches then rely on the poll.
package postgres
