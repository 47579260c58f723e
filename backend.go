package chronicle

import (
	"context"
	"encoding/json"
	"time"
)

// Backend is the storage interface that backends implement: the service
// provider interface beneath [Store]. Applications never call it; they hold a
// [*Store], which validates every argument, assigns IDs and times, runs the
// paging and watch loops and the notifier, and then calls the backend.
//
// # Stability
//
// Backend may gain methods in minor releases, as backends ship with Chronicle
// (packages sqlite and postgres). Implement it outside this module only if
// you accept that; run package storetest against your implementation.
//
// # Contract
//
// Every method may be called from many goroutines at once. Arguments arrive
// validated, and filter values are normalized to string, bool, int64 or
// float64 (see [NormalizeMetadataValue]). A method must not hold storage resources (connections, locks)
// after it returns. Errors are returned as the chronicle sentinels where one
// applies ([ErrConflict] via [Expectation.Check], [ErrVersionNotReached],
// [ErrBusy], [ErrClosed]), wrapped with context otherwise.
type Backend interface {
	// Append writes p.Events to p.Stream atomically (see [Store.Append]):
	// events whose keyed ID is already in the stream as a keyed ID are
	// not written again (store-assigned IDs are not keys); when that
	// leaves none, it succeeds and writes nothing whatever p.Expect is;
	// otherwise p.Expect is checked against the stream's version inside the
	// write transaction. On success it returns one position per event of
	// p.Events, in order, whether written or found, and how many it wrote
	// (see [AppendResult]); the positions of the events found are read in
	// the same transaction as the check that found them.
	Append(ctx context.Context, p *AppendParams) (AppendResult, error)

	// ReadStream returns up to p.Limit events of one stream after (or,
	// backwards, before) p.From that pass p.Filter, in version order.
	ReadStream(ctx context.Context, p *ReadStreamParams) (ReadStreamResult, error)

	// ReadAll returns up to p.Limit events of the global stream after (or,
	// backwards, before) p.From that pass p.Filter, in position order.
	ReadAll(ctx context.Context, p *ReadAllParams) (ReadAllResult, error)

	// EventByID returns the event of stream whose keyed ID is id, and
	// whether there is one, through the idempotency index; store-assigned
	// IDs are not found.
	EventByID(ctx context.Context, stream, id string) (Event, bool, error)
	// StreamInfo describes one stream; a missing stream has version 0.
	StreamInfo(ctx context.Context, stream string) (StreamInfo, error)

	// Stats describes the whole store (Watchers is filled in by the Store).
	Stats(ctx context.Context) (Stats, error)

	// Head returns the position of the newest event, or the zero Position
	// when the store is empty. The Store calls it to start live watches, so
	// it must not cost more than an index look-up.
	Head(ctx context.Context) (Position, error)

	// ListStreams returns up to p.Limit streams whose names start with
	// p.Prefix and sort after p.After, in byte order of their names.
	ListStreams(ctx context.Context, p *ListStreamsParams) ([]StreamInfo, error)

	// SaveSnapshot stores s, replacing an older snapshot of the same stream
	// and name; a snapshot older than the one stored is ignored. It fails
	// with [ErrVersionNotReached] when s.Version (or s.Position, for the
	// global stream) is beyond the stream's current end.
	SaveSnapshot(ctx context.Context, s *Snapshot) error

	// LoadSnapshot returns the latest snapshot of a stream ("" for the
	// global stream) and name, and whether there is one.
	LoadSnapshot(ctx context.Context, stream, name string) (Snapshot, bool, error)

	// WatchChanges blocks until ctx is done, calling changed whenever events
	// may have been committed by another process or store. Changes made
	// through this backend need not be reported: the Store announces them.
	// The Store runs it in one goroutine of its own.
	WatchChanges(ctx context.Context, changed func())

	// Close releases everything the backend owns. The Store calls it once,
	// after every other call has returned.
	Close() error
}

// CommitNotifier is an optional interface of a [Backend] that announces its
// own commits. [New] passes it the function that wakes the store's
// watchers; the backend calls it once after each commit that wrote events
// (once per group, for a backend that commits several appends together),
// before answering the callers. The Store then does not announce appends
// itself.
type CommitNotifier interface {
	SetCommitHook(wake func())
}

// PreparedEvent is an event ready to be stored: validated, with its ID and
// time set.
type PreparedEvent struct {
	ID       string          // never empty
	Keyed    bool            // ID came from the caller, so idempotency applies to it
	Type     string          // never empty
	Data     []byte          // may be empty
	Metadata json.RawMessage // nil or a JSON object
	Time     time.Time       // UTC
}

// AppendParams are the arguments of [Backend.Append].
type AppendParams struct {
	Stream string
	Events []PreparedEvent // at least one; keyed IDs are unique within the batch (the Store collapses repeats)
	Expect Expectation
}

// AppendResult is what an append did: the result of [Store.Append] and of
// [Backend.Append].
//
// Whether an event is new or already in the stream is decided by its
// caller-set ID (see the Idempotency section of [Store.Append]). With n
// distinct events in a batch (an ID repeated within it counts once):
//   - a fresh write, every event new: Written == n, Version is the stream's
//     new version and Positions the events' new positions;
//   - a full duplicate, every event already in the stream (say, the retry
//     of an append that succeeded): nothing is written, whatever the
//     expectation; Written == 0, Version is the stream's current version
//     and Positions the positions at which the events were stored before;
//   - a partial duplicate, some events already in the stream: the others
//     are written if the expectation holds; 0 < Written < n, Version is the
//     version after the events written, and Positions hold the earlier
//     positions of the events found and the new positions of the events
//     written, each at its event's place in the batch.
type AppendResult struct {
	// Version is the stream's version after the append; its current
	// version when nothing was written.
	Version int64
	// Positions holds the global position of each event as stored, in the
	// order the events were given, whether this append wrote it or found it
	// already in the stream. From [Store.Append] there is one per event the
	// caller passed: an event whose ID repeats one earlier in the batch gets
	// the position of the one stored copy. From [Backend.Append] there is
	// one per [PreparedEvent] of [AppendParams.Events]. It is empty for an
	// empty batch.
	Positions []Position
	// Written is how many events this append stored: 0 when every event was
	// already in the stream, and never more than the number of distinct
	// events given (an ID repeated within the batch is stored, and counted,
	// once).
	Written int
}

// ReadStreamParams are the arguments of [Backend.ReadStream].
type ReadStreamParams struct {
	Stream string
	// From is exclusive: forwards, events with Version > From; backwards,
	// events with Version < From, where 0 means from the end.
	From      int64
	Backwards bool
	Limit     int // > 0
	Filter    Filter
}

// ReadStreamResult is a page of a stream.
type ReadStreamResult struct {
	Events []Event
	// Next is where a forward read continues: the version of the last
	// event when the page is full, else the stream's version as seen by the
	// same read, so that a filtered watch never examines the events it
	// skipped twice. Backwards reads leave it zero.
	Next int64
	// Head is the store's head position as seen by the same read, set by
	// forward reads that return fewer than Limit events: every event of the
	// stream up to Head has been examined. Live watches continue from it.
	Head Position
}

// ReadAllParams are the arguments of [Backend.ReadAll].
type ReadAllParams struct {
	// From is exclusive: forwards, events after From; backwards, events
	// before From, where the zero Position means from the end.
	From      Position
	Backwards bool
	Limit     int // > 0
	Filter    Filter
}

// ReadAllResult is a page of the global stream.
type ReadAllResult struct {
	Events []Event
	// Next is where a forward read continues: the position of the last
	// event when the page is full, else the store's head as seen by the
	// same read, so that a filtered watch never examines the events it
	// skipped twice. Backwards reads leave it zero.
	Next Position
}

// ListStreamsParams are the arguments of [Backend.ListStreams].
type ListStreamsParams struct {
	Prefix string
	After  string
	Limit  int // > 0
}
