package chronicle

import (
	"context"
	"time"
)

// Hooks are functions the store calls at the points of its work worth
// measuring or tracing: appends, page reads, snapshot saves and loads,
// watches, and the backends' own work (group commits, checkpoints, the
// visibility frontier, notifications). Set them in [Options].Hooks (or the
// Hooks field of the backends' options); package
// github.com/chronicle-go/chronicle/otelchronicle, a module of its own,
// fills them with OpenTelemetry metrics and spans, so that this package
// depends on no telemetry library.
//
// # Design
//
// Hooks is a struct of optional functions, like net/http/httptrace's
// ClientTrace, rather than an interface with optional extension interfaces
// (pgx's QueryTracer and BatchTracer): new measurement points arrive as new
// fields in minor releases, which breaks no implementation and no caller;
// an implementation sets only the fields it needs; and the store tests
// one pointer, then one field, at each point, so a store without hooks
// pays a nil check and nothing else. The information each function
// receives is a struct passed by value, which also grows by new fields,
// and costs no allocation.
//
// # Contract
//
// Every function is optional: a nil field is skipped. The store calls
// them synchronously, on the goroutine doing the work (the caller's for
// appends, reads and snapshots; the iterating goroutine for watches; a
// backend goroutine for the backends' own measurements), possibly from
// many goroutines at once, so they must be safe for concurrent use and
// cheap: record a measurement or start a span, never block or do I/O. They
// must not call the store. The values they receive must not be modified
// or retained beyond the call (slices in them are shared with the
// caller).
//
// The Start functions return a context: the store continues the operation
// with it, so a span started there becomes the parent of anything below
// (a database driver's own spans), and the matching Done function receives
// it. Returning nil keeps the caller's context. A Done function is called
// once for each Start that was called, also when the operation fails;
// either may be nil without the other.
//
// No hook receives events' Data or Metadata, or a snapshot's state: only
// names, counts, sizes, positions, durations and errors. Stream names are
// unbounded in number; an implementation should put them on spans, not on
// metrics.
type Hooks struct {
	// ForStore, when set, is called once by [New], before any other hook,
	// with a description of the store; the Hooks it returns (when not nil)
	// are the ones that store uses instead. An implementation shared by
	// several stores binds per-store values (the backend's name, the
	// database) here, once, instead of looking them up at every call.
	ForStore func(info StoreInfo) *Hooks

	// AppendStart is called when [Store.Append] starts, before its input is
	// validated; AppendDone when it returns, with its result or error
	// (invalid input and conflicts included).
	AppendStart func(ctx context.Context, info AppendInfo) context.Context
	AppendDone  func(ctx context.Context, info AppendDoneInfo)

	// ReadStart and ReadDone surround each page that [Store.Read],
	// [Store.ReadAll] and [Store.ReadAllPage] read from storage, and each
	// page a watch reads from storage (its history, or when it fell behind
	// the window of recent events that live watches share; the window
	// itself is read once for all of them and not reported).
	ReadStart func(ctx context.Context, info ReadInfo) context.Context
	ReadDone  func(ctx context.Context, info ReadDoneInfo)

	// SnapshotStart and SnapshotDone surround the storage call of each
	// snapshot save and load ([Store.SaveSnapshot], [Store.LoadSnapshot]
	// and their global counterparts), once the arguments are valid.
	SnapshotStart func(ctx context.Context, info SnapshotInfo) context.Context
	SnapshotDone  func(ctx context.Context, info SnapshotDoneInfo)

	// WatchStart is called when a watch ([Store.Watch], [Store.WatchAll])
	// starts iterating, with valid arguments; WatchDone when it ends. The
	// number of watches running is the difference.
	WatchStart func(ctx context.Context, info WatchInfo)
	WatchDone  func(ctx context.Context, info WatchDoneInfo)
	// WatchProgress is called each time a watch has new events to look
	// at (a page from storage, or the commits since its last look), before
	// it delivers them: how far behind the head of the store it is.
	WatchProgress func(ctx context.Context, info WatchProgressInfo)

	// GroupCommit is called by backends that commit concurrent writes
	// together (SQLite) after each transaction that wrote something.
	GroupCommit func(info GroupCommitInfo)
	// Checkpoint is called by backends with a write-ahead log of their own
	// (SQLite) after each checkpoint they run.
	Checkpoint func(info CheckpointInfo)
	// WALSize is called by the same backends after each commit with the
	// size of the write-ahead log.
	WALSize func(info WALInfo)
	// Frontier is called by backends whose global stream is read below a
	// visibility frontier (PostgreSQL) each time they check it (every
	// PollInterval, more often while a notified commit is held back).
	Frontier func(info FrontierInfo)
	// Notification is called by backends that hear of other processes'
	// commits through notifications (PostgreSQL's LISTEN/NOTIFY) for each
	// notification they hear.
	Notification func(info NotificationInfo)

	// ProjectionBatch is called by package projection's runner after it
	// commits each batch of a projection.
	ProjectionBatch func(info ProjectionBatchInfo)
}

// StoreInfo describes a store to [Hooks].ForStore.
type StoreInfo struct {
	// System names the backend's database, in OpenTelemetry's terms
	// (db.system.name): "sqlite" or "postgresql"; empty when the backend
	// does not say.
	System string
	// Namespace names the database within the system (db.namespace): the
	// SQLite file's path (empty in memory), or PostgreSQL's database and
	// schema as "database|schema".
	Namespace string
}

// HookedBackend is an optional interface of a [Backend] that describes
// itself to hooks and reports measurements of its own work (commits,
// checkpoints, notifications) to them. When the store has [Hooks], [New]
// calls Describe once (when [Hooks].ForStore is set, to pass it the
// description), then SetHooks once with the hooks the store uses,
// before it starts the backend's WatchChanges and before any other call;
// a store without hooks calls neither. Backends get their hooks this way,
// as they get [CommitNotifier]'s hook, without a parameter of their own.
type HookedBackend interface {
	// Describe tells the store's system and namespace, for
	// [Hooks].ForStore.
	Describe() StoreInfo
	// SetHooks gives the backend the hooks to report its own work to.
	SetHooks(h *Hooks)
}

// AppendInfo describes an append as it starts.
type AppendInfo struct {
	Stream string      // as the caller gave it (not yet validated)
	Expect Expectation // the caller's expectation
	Events int         // how many events the caller passed
	Bytes  int         // their Data plus Metadata, in bytes
}

// AppendDoneInfo is the outcome of an append.
type AppendDoneInfo struct {
	AppendInfo
	// Result is what Append returned (zero on error); its Positions are
	// the caller's.
	Result   AppendResult
	Err      error // nil on success; matches the chronicle sentinels
	Duration time.Duration
}

// ReadInfo describes one page read from storage.
type ReadInfo struct {
	// Stream is the stream read, or "" for the global stream.
	Stream string
	// FromVersion (a stream) or FromPosition (the global stream) is the
	// exclusive start of the page.
	FromVersion  int64
	FromPosition Position
	Backwards    bool
	Limit        int  // the most events the page may hold
	Filtered     bool // a filter applies
	Watch        bool // the page serves a watch
}

// ReadDoneInfo is the outcome of a page read.
type ReadDoneInfo struct {
	ReadInfo
	Events   int   // events in the page
	Err      error // nil on success
	Duration time.Duration
}

// SnapshotOp is what a snapshot call does.
type SnapshotOp uint8

const (
	// SnapshotSave stores a snapshot.
	SnapshotSave SnapshotOp = iota + 1
	// SnapshotLoad loads the latest snapshot.
	SnapshotLoad
)

// String returns "save" or "load".
func (op SnapshotOp) String() string {
	switch op {
	case SnapshotSave:
		return "save"
	case SnapshotLoad:
		return "load"
	}
	return "unknown"
}

// SnapshotInfo describes a snapshot save or load as it starts.
type SnapshotInfo struct {
	Op     SnapshotOp
	Stream string // "" for a global snapshot
	Name   string // the snapshot's name, after defaulting
	// Version (a stream's snapshot) or Position (a global one) is where a
	// saved snapshot stands; zero for loads.
	Version  int64
	Position Position
	Bytes    int // the size of the state saved; 0 for loads
}

// SnapshotDoneInfo is the outcome of a snapshot save or load.
type SnapshotDoneInfo struct {
	SnapshotInfo
	// Found reports that a load found a snapshot; LoadedVersion,
	// LoadedPosition and LoadedBytes describe it.
	Found          bool
	LoadedVersion  int64
	LoadedPosition Position
	LoadedBytes    int
	Err            error // nil on success
	Duration       time.Duration
}

// WatchInfo describes a watch.
type WatchInfo struct {
	Stream   string // the stream watched, or "" for the global stream
	Filtered bool   // a filter applies
}

// WatchDoneInfo is how a watch ended.
type WatchDoneInfo struct {
	WatchInfo
	Events   int64 // events delivered
	Err      error // what the iterator ended with; nil when the loop body stopped it
	Duration time.Duration
}

// WatchProgressInfo is how far a watch is behind the head of the store
// when it has new events to look at.
type WatchProgressInfo struct {
	WatchInfo
	// Lag is how long ago the oldest of the events the watch has not yet
	// looked at was appended, from its Time: the store's clock at the
	// append, unless the caller set the event's Time (an import), which
	// then counts instead.
	Lag time.Duration
	// Behind is how many events of the global stream (before the watch's
	// filter) lie between the watch and the head, when known: exactly,
	// for a live watch taking commits from the window live watches share;
	// for a page read from storage, when the backend can count positions
	// ([PositionCounter]: SQLite). Otherwise -1.
	Behind int64
	// Live reports that the watch has caught up with the history once.
	Live bool
}

// GroupCommitInfo describes one transaction of a backend that commits
// concurrent writes together.
type GroupCommitInfo struct {
	Writes   int // requests the transaction answered (appends and snapshot saves)
	Appends  int // of which appends that wrote events
	Events   int // events they wrote
	Duration time.Duration
	Err      error // the commit's error; nil when it committed
}

// CheckpointInfo describes one write-ahead log checkpoint.
type CheckpointInfo struct {
	// Inline reports a checkpoint run by a commit that found the log at
	// its size limit; otherwise it ran in the background.
	Inline bool
	// HeldWrites reports that the checkpoint held the process's writes for
	// its last pages, so that the log could start over.
	HeldWrites bool
	// Held is how long the process's writes waited for the checkpoint:
	// from when it held them to when it let them go (whether or not the
	// log could start over: HeldWrites), or the whole of an inline
	// checkpoint, which runs in the commit that found the log at its
	// limit, before that connection's next write. 0 when it held none.
	// These waits are what a checkpoint adds to the appends' latency.
	Held time.Duration
	// WALPages is the size of the log the (last) checkpoint saw, and
	// Copied how many of its pages the database file then held, in pages.
	WALPages int64
	Copied   int64
	// Busy reports that another connection was checkpointing at the time,
	// so this one copied nothing.
	Busy     bool
	Duration time.Duration
	Err      error
}

// WALInfo is the size of a write-ahead log after a commit: the pages it
// holds since it last started over (the file itself may be larger).
type WALInfo struct {
	Pages int64
	Bytes int64 // Pages times the page size
}

// FrontierInfo is the visibility frontier of a backend whose global
// stream is read below it (PostgreSQL, see the postgres package): the
// oldest transaction still running, which every event after it waits
// for, however long ago it committed.
type FrontierInfo struct {
	Frontier uint64 // the oldest running transaction's ID, or the next ID when none runs
	// Held reports that the frontier holds something back: a transaction
	// runs at the frontier while a later one has ended already, whose
	// events (if it wrote any) the global stream and live watches do not
	// see until the frontier passes. Age is for how long it has held back
	// at that transaction, as seen by the backend's checks (so to within
	// their interval, and never longer than the store has been open); 0
	// when not Held.
	Held bool
	Age  time.Duration
}

// NotificationInfo describes a notification of another process's commit.
type NotificationInfo struct {
	// Delay is the time from the commit (the first one the notification
	// announces, by the committing process's clock) to its arrival here,
	// or -1 when the notification does not say (a sender of an earlier
	// version). Clocks that differ between machines shift it.
	Delay time.Duration
}

// ProjectionBatchInfo describes a batch a projection committed.
type ProjectionBatchInfo struct {
	Name       string
	Version    int
	Events     int      // events in the batch
	Checkpoint Position // the checkpoint after it
	Replaying  bool     // the projection was catching up (see package projection's Batch)
	// Lag is how long ago the batch's last event was appended (its Time)
	// when the batch committed: how stale the read model was just before.
	Lag time.Duration
	// Behind is how many events of the global stream (before the
	// projection's filter) lie after Checkpoint, up to the head as the
	// read of the batch saw it: 0 when that read reached the head;
	// otherwise counted when the backend's positions count events
	// ([PositionCounter]: SQLite), looking the head up; else -1.
	Behind   int64
	Duration time.Duration // applying the batch and committing it
}

// PositionCounter is an optional interface of a [Backend] whose positions
// count events: the number of events after one position up to another
// follows from the two alone (SQLite's positions are a sequence), which
// lets [WatchProgressInfo].Behind be measured without a query.
type PositionCounter interface {
	EventsBetween(from, to Position) int64
}

// Hooks returns the hooks the store reports to (after [Hooks].ForStore),
// or nil, for packages that extend a Store (such as package projection).
func (s *Store) Hooks() *Hooks { return s.hooks }

// setHooks installs the hooks of opts on a new store and hands them to the
// backend.
func (s *Store) setHooks(h *Hooks) {
	if h == nil {
		return
	}
	hb, _ := s.b.(HookedBackend)
	if h.ForStore != nil {
		var info StoreInfo
		if hb != nil {
			info = hb.Describe()
		}
		if bound := h.ForStore(info); bound != nil {
			h = bound
		}
	}
	s.hooks = h
	if hb != nil {
		hb.SetHooks(h)
	}
	if pc, ok := s.b.(PositionCounter); ok {
		s.counter = pc
	}
}

// appendObserved is Append with hooks.
func (s *Store) appendObserved(ctx context.Context, h *Hooks, stream string, expect Expectation, events []EventData) (AppendResult, error) {
	info := AppendInfo{Stream: stream, Expect: expect, Events: len(events)}
	for i := range events {
		info.Bytes += len(events[i].Data) + len(events[i].Metadata)
	}
	if h.AppendStart != nil {
		if c := h.AppendStart(ctx, info); c != nil {
			ctx = c
		}
	}
	start := time.Now()
	res, err := s.appendEvents(ctx, stream, expect, events)
	if h.AppendDone != nil {
		h.AppendDone(ctx, AppendDoneInfo{AppendInfo: info, Result: res, Err: err, Duration: time.Since(start)})
	}
	return res, err
}

// readStream is [Backend.ReadStream] through the read hooks; watch tells
// whether the page serves a watch.
func (s *Store) readStream(ctx context.Context, p *ReadStreamParams, watch bool) (ReadStreamResult, error) {
	if s.hooks == nil {
		return s.b.ReadStream(ctx, p)
	}
	info := ReadInfo{Stream: p.Stream, FromVersion: p.From, Backwards: p.Backwards, Limit: p.Limit, Filtered: len(p.Filter) > 0, Watch: watch}
	ctx, start := s.startRead(ctx, info)
	res, err := s.b.ReadStream(ctx, p)
	s.endRead(ctx, info, start, len(res.Events), err)
	return res, err
}

// readAll is [Backend.ReadAll] through the read hooks.
func (s *Store) readAll(ctx context.Context, p *ReadAllParams, watch bool) (ReadAllResult, error) {
	if s.hooks == nil {
		return s.b.ReadAll(ctx, p)
	}
	info := ReadInfo{FromPosition: p.From, Backwards: p.Backwards, Limit: p.Limit, Filtered: len(p.Filter) > 0, Watch: watch}
	ctx, start := s.startRead(ctx, info)
	res, err := s.b.ReadAll(ctx, p)
	s.endRead(ctx, info, start, len(res.Events), err)
	return res, err
}

func (s *Store) startRead(ctx context.Context, info ReadInfo) (context.Context, time.Time) {
	if f := s.hooks.ReadStart; f != nil {
		if c := f(ctx, info); c != nil {
			ctx = c
		}
	}
	return ctx, time.Now()
}

func (s *Store) endRead(ctx context.Context, info ReadInfo, start time.Time, events int, err error) {
	if f := s.hooks.ReadDone; f != nil {
		f(ctx, ReadDoneInfo{ReadInfo: info, Events: events, Err: err, Duration: time.Since(start)})
	}
}

// snapshotCall runs a snapshot's storage call f, through the hooks when
// there are any.
func (s *Store) snapshotCall(ctx context.Context, info SnapshotInfo, f func(context.Context) (Snapshot, bool, error)) (Snapshot, bool, error) {
	h := s.hooks
	if h == nil {
		return f(ctx)
	}
	if h.SnapshotStart != nil {
		if c := h.SnapshotStart(ctx, info); c != nil {
			ctx = c
		}
	}
	start := time.Now()
	snap, found, err := f(ctx)
	if h.SnapshotDone != nil {
		d := SnapshotDoneInfo{SnapshotInfo: info, Found: found, Err: err, Duration: time.Since(start)}
		if found {
			d.LoadedVersion, d.LoadedPosition, d.LoadedBytes = snap.Version, snap.Position, len(snap.State)
		}
		h.SnapshotDone(ctx, d)
	}
	return snap, found, err
}

// watchObs follows one watch for the hooks.
type watchObs struct {
	h      *Hooks
	ctx    context.Context
	info   WatchInfo
	start  time.Time
	events int64
	err    error
}

// observeWatch reports the start of a watch and returns the yield that
// counts what it delivers, and the function that reports its end.
func (s *Store) observeWatch(ctx context.Context, info WatchInfo, yield func(Event, error) bool) (func(Event, error) bool, *watchObs) {
	w := &watchObs{h: s.hooks, ctx: ctx, info: info, start: time.Now()}
	if w.h.WatchStart != nil {
		w.h.WatchStart(ctx, info)
	}
	return func(ev Event, err error) bool {
		if err != nil {
			w.err = err
		} else {
			w.events++
		}
		return yield(ev, err)
	}, w
}

func (w *watchObs) end() {
	if w.h.WatchDone != nil {
		w.h.WatchDone(w.ctx, WatchDoneInfo{WatchInfo: w.info, Events: w.events, Err: w.err, Duration: time.Since(w.start)})
	}
}

// window reports a watch about to look at the commits after its cursor
// in the live window: every event of window is after it, up to the head.
func (w *watchObs) window(window []Event) {
	if w == nil || w.h.WatchProgress == nil || len(window) == 0 {
		return
	}
	w.h.WatchProgress(w.ctx, WatchProgressInfo{WatchInfo: w.info, Lag: max(0, time.Since(window[0].Time)),
		Behind: int64(len(window)), Live: true})
}

// page reports a watch about to deliver a page read from storage; head is
// the head the read saw when it was the last page (more is false); live
// reports that the watch had caught up once.
func (w *watchObs) page(s *Store, page []Event, more bool, head Position, live bool) {
	if w == nil || w.h.WatchProgress == nil || len(page) == 0 {
		return
	}
	behind := int64(-1)
	if s.counter != nil {
		if more {
			// The read does not tell the head: ask for it (an index
			// look-up), only when the backend can count positions.
			var err error
			if head, err = call(s, func() (Position, error) { return s.b.Head(w.ctx) }); err != nil {
				head = Position{}
			}
		}
		// The page's first event counts as behind too.
		if from := page[0].Position; !head.Before(from) && !head.IsZero() {
			behind = s.counter.EventsBetween(from, head) + 1
		}
	}
	w.h.WatchProgress(w.ctx, WatchProgressInfo{WatchInfo: w.info, Lag: max(0, time.Since(page[0].Time)),
		Behind: behind, Live: live})
}
