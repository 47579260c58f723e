package projection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/chronicle-go/chronicle"
)

// Batch is what a handler is given: events of the global stream that pass
// the projection's filter, in commit order.
type Batch struct {
	// Name and Version identify the projection version being built: a
	// handler that keeps a table per version (balances_v1, balances_v2)
	// writes to the one Version names.
	Name    string
	Version int
	// Replaying is true while this version has never reached the head of
	// the store: it is being built from the start (a new projection, a new
	// version, or after Reset). Handlers with side effects outside the
	// database (e-mails, messages) should suppress them while replaying.
	Replaying bool
	// Events are the batch's events. Their Data and Metadata may be shared
	// with other readers: copy them before changing them.
	Events []chronicle.Event
}

// SQLHandler applies a batch to a read model inside tx, a transaction on the
// store's own database (the same SQLite file, the same PostgreSQL database).
// The runner advances the projection's checkpoint in the same transaction
// and commits it after the handler returns nil, so every event is applied
// exactly once, across crashes and processes. An error rolls everything
// back; the batch is retried (see [RetryPolicy]).
//
// The handler must not commit or roll back tx, and must not append to the
// store from inside it: on SQLite, tx holds the database's write lock until
// it ends.
type SQLHandler func(ctx context.Context, tx *sql.Tx, b Batch) error

// ExecHandler applies a batch to a read model by adding to stmts the SQL
// statements to run, for read models whose updates are writes that need no
// results (inserts, upserts, deletes). After it returns nil, the runner
// runs the statements in order and advances the projection's checkpoint,
// all in one transaction on the store's own database, so every event is
// applied exactly once, as with an [SQLHandler]. On PostgreSQL they go to
// the server in one round trip (a pipeline) together with the checkpoint
// and the commit, where an SQLHandler's transaction takes at least four (a
// statement's text that a connection has not prepared yet costs one more
// round trip, once); the small batches of live Exec projections that are
// ready at the same moment share one transaction. A failing statement
// rolls everything back and the batch is retried (see [RetryPolicy]).
// The statements must not control the transaction (BEGIN, COMMIT,
// SAVEPOINT, ROLLBACK).
type ExecHandler func(ctx context.Context, stmts *Statements, b Batch) error

// Statements are the statements an [ExecHandler] adds for a batch. Write
// them in the database's dialect: ? or $1, $2… placeholders on SQLite, $1,
// $2… on PostgreSQL.
type Statements struct {
	queries []string
	args    [][]any
}

// Add appends a statement with its arguments.
func (s *Statements) Add(query string, args ...any) {
	s.queries = append(s.queries, query)
	s.args = append(s.args, args)
}

// Len returns the number of statements added.
func (s *Statements) Len() int { return len(s.queries) }

// Handler handles a batch outside the store's database (send a message,
// call a service). The runner records the checkpoint after the handler
// returns nil, so a crash between the two delivers the batch again: at
// least once. Deduplicate with the events' IDs or positions.
type Handler func(ctx context.Context, b Batch) error

// ResetFunc clears a projection version's read model inside tx, the
// transaction in which [Runner.Reset] moves its checkpoint back to the
// start.
type ResetFunc func(ctx context.Context, tx *sql.Tx, name string, version int) error

// Projection describes a read model kept up to date by a [Runner].
type Projection struct {
	// Name identifies the projection in the store; it must stay the same
	// across releases of the application (1 to 200 bytes of printable
	// UTF-8).
	Name string
	// Version is the version of the projection's code, from 1. Raising it
	// builds the new version from the start beside the old one, which keeps
	// serving until the new one has caught up and is switched to (see
	// [Runner.Switch] and Options.AutoSwitch).
	Version int
	// Filter selects the events the projection sees; nil selects all.
	Filter chronicle.Filter
	// SQL is the handler of a projection kept in the store's database,
	// applied exactly once. Exactly one of SQL, Exec and Handle must be
	// set.
	SQL SQLHandler
	// Exec is the handler of a projection kept in the store's database
	// whose batches are statements that need no results, applied exactly
	// once, in one round trip on PostgreSQL.
	Exec ExecHandler
	// Handle is the handler of a projection with effects outside the
	// database, applied at least once.
	Handle Handler
	// Reset, for SQL and Exec projections, clears the read model in the
	// transaction of [Runner.Reset]. Nil leaves the read model to the
	// application.
	Reset ResetFunc
}

// Maximum length of a projection name, in bytes.
const maxNameLen = 200

func (p *Projection) validate() error {
	if err := chronicle.ValidateStreamName(p.Name); err != nil || len(p.Name) > maxNameLen {
		return fmt.Errorf("projection: %w: name %q: 1 to %d bytes of printable UTF-8", chronicle.ErrInvalid, p.Name, maxNameLen)
	}
	if p.Version < 1 {
		return fmt.Errorf("projection: %w: %s: version %d, want 1 or more", chronicle.ErrInvalid, p.Name, p.Version)
	}
	kinds := 0
	for _, set := range []bool{p.SQL != nil, p.Exec != nil, p.Handle != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return fmt.Errorf("projection: %w: %s: set exactly one of SQL, Exec and Handle", chronicle.ErrInvalid, p.Name)
	}
	if p.Reset != nil && p.Handle != nil {
		return fmt.Errorf("projection: %w: %s: Reset needs an SQL or Exec handler", chronicle.ErrInvalid, p.Name)
	}
	if err := p.Filter.Validate(); err != nil {
		return fmt.Errorf("projection: %s: %w", p.Name, err)
	}
	return nil
}

// RetryPolicy says how a failing batch is retried: up to Attempts times in
// all, waiting Initial after the first failure, then twice as long each
// time, up to Max.
type RetryPolicy struct {
	Attempts int           // tries in all; zero means 5
	Initial  time.Duration // first wait; zero means 100ms
	Max      time.Duration // longest wait; zero means 10s
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Initial <= 0 {
		p.Initial = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 10 * time.Second
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	return p
}

// wait returns how long to wait after the nth failure (from 1).
func (p RetryPolicy) wait(n int) time.Duration {
	d := p.Initial
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// OnFailure is what a live projection does with an event that failed every
// retry.
type OnFailure int

const (
	// Park (the default) parks the failing event's stream: the event and
	// the stream's later events are held and recorded (see [Runner.Parked])
	// while the projection goes on with other streams, until
	// [Runner.Retry] or [Runner.Skip].
	Park OnFailure = iota
	// Stop stops the projection with the error (state [Failed]).
	Stop
)

// Defaults of [Options].
const (
	DefaultBatchSize       = 1000
	DefaultLeaseTTL        = 10 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
)

// Options configure a [Runner]. The zero value (or nil) gives the defaults.
type Options struct {
	// Logger receives the runner's logs. Nil means slog.Default().
	Logger *slog.Logger
	// BatchSize is the largest number of events given to one handler call
	// (and applied in one transaction). While catching up, batches are
	// full; while live, a batch holds what committed since the last one.
	// Zero means DefaultBatchSize.
	BatchSize int
	// Retry is how a failing batch is retried.
	Retry RetryPolicy
	// OnFailure is what a live projection does when an event fails every
	// retry. A projection that is replaying (see [Batch].Replaying) always
	// stops instead: a rebuild must not leave events out.
	OnFailure OnFailure
	// LeaseTTL bounds how long a projection stays with a runner that
	// stopped renewing its lease (a process that died): another runner on
	// the same store takes it over within LeaseTTL plus a third of it. A
	// running runner renews its leases every third of LeaseTTL. Zero means
	// DefaultLeaseTTL; at least 10ms.
	LeaseTTL time.Duration
	// Owner names this runner in the store (status, logs). Empty means a
	// random name with the host name and process ID. It must be unique
	// among the runners of a store.
	Owner string
	// AutoSwitch makes a new version the active one as soon as it has
	// caught up, retiring the old one. Without it, call [Runner.Switch].
	AutoSwitch bool
	// OnCaughtUp, when set, is called each time a projection version
	// reaches the head for the first time; for a new version being built
	// beside an old one, that means it is ready to be switched to. It runs
	// on that version's goroutine, which waits for it: it must return
	// promptly and must not wait for the projection (WaitFor); start a
	// goroutine for longer work.
	OnCaughtUp func(name string, version int)
	// ShutdownTimeout bounds how long Run waits, once its context ends, for
	// the batches in flight to finish; after it their contexts are
	// canceled and their transactions roll back. Zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DurableCommits makes each projection transaction on PostgreSQL wait
	// until its commit is on disk (synchronous_commit = on), as the
	// store's appends do. By default it does not wait (synchronous_commit
	// = off for that transaction alone), which takes a disk flush off every
	// batch: a crash of the PostgreSQL server may then lose the last
	// commits of a projection (its read-model changes and its checkpoint
	// together, never one without the other), and the runner applies those
	// events again when it restarts, so nothing is lost or applied twice;
	// only, for a moment after the server restarts, a read model may be
	// behind a position that WaitFor had reported. SQLite stores ignore it:
	// their durability is the store's (sqlite.Options.Synchronous).
	DurableCommits bool
}

// Errors of the runner. They wrap chronicle's where one applies.
var (
	// ErrUnknown: no projection of that name is registered with the
	// runner, or (for an [Admin]) recorded in the store; or the projection
	// has no version in the store that the call could act on.
	ErrUnknown = errors.New("projection: unknown projection")
	// ErrFailed: the projection stopped on an error (see [Status].Error).
	ErrFailed = errors.New("projection: projection failed")
	// ErrCheckpoint: a stored checkpoint does not match the store (an event
	// ID differs at its position, or it is beyond the store's head): the
	// store was restored from an older copy, lost its last commits, or is
	// not the store the checkpoint came from. Rebuild the projection
	// ([Runner.Reset]) or restore the read model with the store.
	ErrCheckpoint = errors.New("projection: checkpoint does not match the store")
	// ErrNotCaughtUp: a new version cannot be switched to before it has
	// reached the head.
	ErrNotCaughtUp = errors.New("projection: new version has not caught up")
	// ErrNotParked: the stream is not parked.
	ErrNotParked = errors.New("projection: stream not parked")
)

// Stage is the role of a projection version in the store.
type Stage string

// Stages.
const (
	Active   Stage = "active"   // the version that serves
	Building Stage = "building" // a newer version replaying beside the active one
	Retired  Stage = "retired"  // replaced by a newer version
)

// State is what a projection version is doing.
//
// A [Runner] tells CatchingUp from Live for the versions it holds itself.
// Of a version that another runner holds, and of every version for an
// [Admin] (which runs none), only the store's records are known: the
// state is then Standby, or Parked when the version has parked streams,
// with the holder in [Status].Owner; or Stopped or Failed.
type State string

// States.
const (
	CatchingUp State = "catching up" // behind the head, reading history
	Live       State = "live"        // at the head, applying each commit
	Parked     State = "parked"      // live (or held by another runner), with at least one parked stream
	Failed     State = "failed"      // stopped by an error
	Stopped    State = "stopped"     // not running in any runner
	Standby    State = "standby"     // running in another runner of the store (Status.Owner), whose lease is live
)

// Status describes one projection version.
type Status struct {
	Name    string
	Version int
	Stage   Stage
	State   State
	// Checkpoint is how far the global stream has been examined: every
	// event up to it that passes the filter has been applied or is held in
	// a parked stream.
	Checkpoint chronicle.Position
	// Head is the store's head position.
	Head chronicle.Position
	// LagEvents is the number of events of the global stream after
	// Checkpoint (before the filter), and LagTime how long ago the oldest
	// of them was written; both zero when at the head.
	LagEvents int64
	LagTime   time.Duration
	// CaughtUp reports that this version has reached the head at least
	// once (it is no longer replaying).
	CaughtUp bool
	// ParkedStreams is the number of parked streams.
	ParkedStreams int
	// Owner is the runner that holds the projection, if any.
	Owner string
	// Error is the error that stopped the projection, or, for a version
	// that this runner holds, the last error of a batch still being
	// retried; empty when none.
	Error string
	// ResetRequested reports that a reset requested through
	// [Admin.Reset] is pending: the runner that holds this version (or
	// next takes it) has not carried it out yet.
	ResetRequested bool
}

// ParkedStream is a stream whose events a projection holds after one of
// them failed every retry.
type ParkedStream struct {
	Name    string
	Version int
	Stream  string
	// Event is the event that failed: the first one held.
	Position     chronicle.Position
	EventID      string
	EventVersion int64
	EventType    string
	Error        string
	Attempts     int
	Time         time.Time // when it was parked
	// Request is a pending "retry" or "skip", or "".
	Request string
}

// LogEntry is one recorded action on a projection.
type LogEntry struct {
	Name     string
	Version  int
	Time     time.Time
	Action   string // parked, retried, skipped, reset, reset requested, switched, retired, failed
	Stream   string
	Position chronicle.Position
	EventID  string
	Detail   string
}
