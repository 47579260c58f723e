// Package chronicle is an event store for Go: streams of immutable events
// that you append to, read, watch and snapshot, plus the global stream of
// every event in commit order.
//
// Applications hold a [*Store], opened by a backend package: [sqlite.Open]
// is the embedded default (a file, or memory when no path is given). This
// package holds the types, the errors, the logic every backend shares and
// the small [Backend] interface that backends implement.
//
// # Streams and versions
//
// A stream is named by a string (see [ValidateStreamName]). Its events are
// numbered 1, 2, 3, … without gaps: an event's Version. An empty stream is
// at version 0. [Store.Append] takes an [Expectation] ([Any], [NoStream],
// [StreamExists] or [Exactly]) for optimistic concurrency, and an optional
// per-event ID for idempotency: retrying an append whose reply was lost
// succeeds without writing twice, and reports the positions the events were
// stored at.
//
// # Reading and watching
//
// [Store.Read] and [Store.ReadAll] return iter.Seq2[Event, error] iterators
// that page through storage and hold nothing while the loop body runs.
// [Store.Watch] and [Store.WatchAll] deliver history and then live events in
// order, without gaps or duplicates, until their context ends. One notifier
// per store wakes every watcher; a notification is only a hint, and events
// are always re-read from storage, so a slow watcher costs nothing to others.
// "from" is exclusive everywhere: reading a stream from version 3 starts at
// version 4, and resuming the global stream from an event's [Position]
// starts after that event.
//
// # The global stream
//
// Every event has a [Position] that totally orders all events of the store
// in commit order. Positions print and parse ([ParsePosition]) for use as
// checkpoints. The global stream is read-only by construction: there is no
// name to append to. A [Filter] selects events by stream, type or metadata
// value; it runs inside the database.
//
// # Snapshots
//
// [Store.SaveSnapshot] keeps state folded from a stream under a projection
// name, at a version; [Store.LoadSnapshot] returns the latest. Global
// snapshots ([Store.SaveGlobalSnapshot]) are taken at a position.
//
// # Building on the store
//
// Package projection keeps read models up to date from the global stream,
// exactly once; package aggregate handles commands on entities folded from
// their streams, with conflict retries, command IDs ([Store.EventByID]
// tells whether a command's event is stored already) and snapshots;
// package registry maps event type names to Go types and upcasts events of
// older shapes.
//
// # Observability
//
// [Hooks] in [Options] (or in the backends' options) receive a
// measurement of every append, page read, snapshot save and load and
// watch, and of the backends' own work: group commits, checkpoints, the
// visibility frontier, notifications. Package otelchronicle, a module of
// its own, turns them into OpenTelemetry metrics and spans; a store
// without hooks pays a nil check. Logs go to [Options].Logger, and never
// hold events' payloads.
//
// # Errors
//
// Errors match sentinels with [errors.Is]: [ErrConflict] (with
// [*ConflictError] details), [ErrInvalid] (with [*ValidationError]),
// [ErrClosed], [ErrVersionNotReached], [ErrBusy], [ErrIncompatible],
// [ErrStorageFull] and [ErrReadOnly]. Invalid input never writes anything,
// and a failed append writes none of its events.
//
// [sqlite.Open]: https://pkg.go.dev/github.com/chronicle-go/chronicle/sqlite#Open
package chronicle
