package chronicle

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle/internal/notify"
	"github.com/chronicle-go/chronicle/internal/uuidv7"
)

// DefaultPageSize is how many events a Read or Watch fetches per query when
// Options.PageSize is zero.
const DefaultPageSize = 512

// Defaults and bounds of the size limits in [Options].
const (
	// DefaultMaxEventBytes is the default limit on one event's Data plus
	// Metadata: 64 MiB.
	DefaultMaxEventBytes = 64 << 20
	// DefaultMaxBatchBytes is the default limit on the Data plus Metadata
	// of all the events of one Append: 256 MiB.
	DefaultMaxBatchBytes = 256 << 20
	// LimitBytes is the largest value either limit may be set to (SQLite's
	// default maximum value length is 1,000,000,000 bytes).
	LimitBytes = 900_000_000
)

// Options configure a [Store]. The zero value (or nil) gives the defaults.
type Options struct {
	// Logger receives the store's logs. Nil means slog.Default().
	// Payloads are never logged.
	Logger *slog.Logger
	// PageSize is how many events Read and Watch fetch per query; memory
	// use per iteration is bounded by it. Zero means DefaultPageSize.
	PageSize int
	// MaxEventBytes bounds one event's len(Data)+len(Metadata); an Append
	// with a larger event fails with ErrInvalid and writes nothing. Zero
	// means DefaultMaxEventBytes; at most LimitBytes.
	MaxEventBytes int
	// MaxBatchBytes bounds the sum of len(Data)+len(Metadata) over the
	// events of one Append, which is written in one transaction; a larger
	// batch fails with ErrInvalid and writes nothing. Zero means
	// DefaultMaxBatchBytes; at most LimitBytes.
	MaxBatchBytes int
	// Hooks, when set, receive measurements of the store's work, for
	// metrics and traces (see [Hooks]; package otelchronicle implements
	// them with OpenTelemetry). Nil means none, at the cost of a nil
	// check.
	Hooks *Hooks
}

// Store is an event store: streams of events that are appended, read,
// watched and snapshotted, plus the global stream of every event in commit
// order. A Store is safe for concurrent use. Open one with a backend package
// (sqlite.Open, the embedded default) and Close it when done.
type Store struct {
	b        Backend
	log      *slog.Logger
	pageSize int
	maxEvent int // Options.MaxEventBytes
	maxBatch int // Options.MaxBatchBytes

	ids     uuidv7.Generator
	changes notify.Broadcaster

	gate     sync.RWMutex  // held shared by each backend call, exclusively by Close
	closed   bool          // guarded by gate
	done     chan struct{} // closed when Close starts: ends watches
	shutdown chan struct{} // closed when Close has finished
	closeErr error         // Close's result, set before shutdown closes

	cancel   context.CancelFunc // stops the change watcher
	wg       sync.WaitGroup
	watchers atomic.Int64
	riding   atomic.Int64 // watches riding out an outage (see rider)
	tail     tail         // recent events shared by live watches
	// selfNotify is set when the backend wakes watchers on its commits
	// (CommitNotifier), so Append need not.
	selfNotify bool

	hooks   *Hooks          // nil when not observed (Options.Hooks)
	counter PositionCounter // the backend, when it counts positions and there are hooks
}

// New returns a Store over b, and starts its notifier. Backend packages call
// it; applications use their Open functions. The Store owns b from now on
// and closes it in [Store.Close].
func New(b Backend, opts *Options) (*Store, error) {
	if b == nil {
		return nil, invalid("backend", "nil")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.PageSize < 0 {
		return nil, invalid("Options.PageSize", "negative (%d)", o.PageSize)
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	for _, l := range []struct {
		name string
		v    *int
		def  int
	}{{"Options.MaxEventBytes", &o.MaxEventBytes, DefaultMaxEventBytes}, {"Options.MaxBatchBytes", &o.MaxBatchBytes, DefaultMaxBatchBytes}} {
		if *l.v < 0 || *l.v > LimitBytes {
			return nil, invalid(l.name, "%d out of range 0..%d", *l.v, LimitBytes)
		}
		if *l.v == 0 {
			*l.v = l.def
		}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{b: b, log: o.Logger, pageSize: o.PageSize, maxEvent: o.MaxEventBytes, maxBatch: o.MaxBatchBytes, done: make(chan struct{}), shutdown: make(chan struct{}), cancel: cancel}
	s.setHooks(o.Hooks)
	if cn, ok := b.(CommitNotifier); ok {
		cn.SetCommitHook(s.changes.Broadcast)
		s.selfNotify = true
	}
	s.wg.Go(func() { b.WatchChanges(ctx, s.changes.Broadcast) })
	s.wg.Go(func() { s.tail.run(ctx, s) })
	return s, nil
}

// Close ends every running watch (their iterators yield [ErrClosed]), waits
// for calls in flight, stops the notifier and closes the backend. It is safe
// to call more than once and from several goroutines: every call returns
// once the store is closed, the later ones with nil. Every call on the Store
// after Close returns an error matching [ErrClosed] (arguments are still
// validated first, so an invalid one gets [ErrInvalid]).
//
// Close may be called from inside a Read or Watch loop body.
func (s *Store) Close() error {
	s.gate.Lock()
	if s.closed {
		s.gate.Unlock()
		<-s.shutdown
		return nil
	}
	s.closed = true
	close(s.done)
	s.gate.Unlock()
	s.changes.Broadcast() // wakes Notify's waiters, whose next call sees ErrClosed

	s.cancel()
	s.wg.Wait()
	if err := s.b.Close(); err != nil {
		s.closeErr = fmt.Errorf("chronicle: close: %w", err)
	}
	close(s.shutdown)
	return s.closeErr
}

// enter admits one backend call, or reports that the store is closed.
// Each successful enter must be followed by leave.
func (s *Store) enter() error {
	s.gate.RLock()
	if s.closed {
		s.gate.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.gate.RUnlock() }

// Append writes events to the end of stream, atomically: all of them or none,
// also across a crash. It returns the stream's new version, the global
// position of each event given, in order, and how many events it wrote
// (see [AppendResult]).
//
// expect is checked against the stream's version inside the write
// transaction; on a mismatch Append returns a [*ConflictError] (matching
// [ErrConflict]) and writes nothing.
//
// # Idempotency
//
// An event whose ID the caller set is written at most once per stream:
//   - an event whose ID is already in the stream is dropped;
//   - of events with the same ID in one batch, only the first is kept;
//   - when every event of the batch is already in the stream (a full
//     duplicate), Append succeeds and writes nothing, whatever expect
//     says: a retry after a lost reply succeeds. It returns the stream's
//     current version, Written 0 and, for each event, the position at
//     which it was stored before, so that the caller can wait for it as
//     for a fresh write;
//   - otherwise (a partial duplicate) expect applies to what remains. When
//     it holds, Append writes the rest and returns the version after them,
//     Written as the number written, and, for each event, its earlier
//     position if it was found and its new one if it was written.
//
// Either way Positions has one entry per event given, in order; an event
// whose ID repeats one earlier in the batch gets the position of the one
// stored copy, and is not counted in Written.
//
// Duplicates are recognised by ID alone; their content is not compared.
// Idempotency keys are the IDs callers set: events without an ID get a
// fresh UUIDv7 and are always written, and a store-assigned ID is not a key
// (so that no index has to hold them), though once a caller appends an event
// carrying it, it is one. An empty batch writes nothing and returns the
// stream's current version, without positions and without checking expect.
//
// Event times must lie between [MinTime] (1677-09-21) and [MaxTime]
// (2262-04-11), the range of int64 nanoseconds since 1970; other times are
// rejected with [ErrInvalid].
//
// Invalid input (see [ValidateStreamName]; an empty or overlong Type;
// Metadata that is not a JSON object; a negative expected version) returns
// an error matching [ErrInvalid] and writes nothing.
func (s *Store) Append(ctx context.Context, stream string, expect Expectation, events ...EventData) (AppendResult, error) {
	if h := s.hooks; h != nil && (h.AppendStart != nil || h.AppendDone != nil) {
		return s.appendObserved(ctx, h, stream, expect, events)
	}
	return s.appendEvents(ctx, stream, expect, events)
}

// appendEvents is Append without hooks.
func (s *Store) appendEvents(ctx context.Context, stream string, expect Expectation, events []EventData) (AppendResult, error) {
	if err := ValidateStreamName(stream); err != nil {
		return AppendResult{}, err
	}
	if err := expect.Validate(); err != nil {
		return AppendResult{}, err
	}
	prepared, from, err := s.prepare(events)
	if err != nil {
		return AppendResult{}, err
	}
	if err := s.enter(); err != nil {
		return AppendResult{}, err
	}
	defer s.leave()
	if len(prepared) == 0 {
		info, err := s.b.StreamInfo(ctx, stream)
		if err != nil {
			return AppendResult{}, fmt.Errorf("chronicle: append to %q: %w", stream, err)
		}
		return AppendResult{Version: info.Version}, nil
	}
	res, err := s.b.Append(ctx, &AppendParams{Stream: stream, Events: prepared, Expect: expect})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return AppendResult{}, err
		}
		return AppendResult{}, fmt.Errorf("chronicle: append to %q: %w", stream, err)
	}
	if res.Written > 0 && !s.selfNotify {
		s.changes.Broadcast()
	}
	if len(res.Positions) != len(prepared) || res.Written < 0 || res.Written > len(prepared) {
		return AppendResult{}, fmt.Errorf("chronicle: append to %q: the backend reported %d positions and %d written for %d events",
			stream, len(res.Positions), res.Written, len(prepared))
	}
	if from != nil {
		positions := make([]Position, len(events))
		for i, j := range from {
			positions[i] = res.Positions[j]
		}
		res.Positions = positions
	}
	return res, nil
}

// prepare validates events, drops repeated IDs within the batch and fills
// in IDs and times. When it drops an event, from maps each event to the
// prepared event that stores it (from[i] indexes the result for events[i]);
// otherwise from is nil and the result is in step with events.
func (s *Store) prepare(events []EventData) ([]PreparedEvent, []int, error) {
	if len(events) == 0 {
		return nil, nil, nil
	}
	out := make([]PreparedEvent, 0, len(events))
	var from []int
	var seen map[string]int // keyed ID -> index in out
	unkeyed, batchBytes := 0, 0
	now := time.Now().UTC()
	for i := range events {
		e := &events[i]
		field := func(name string) string { return fmt.Sprintf("events[%d].%s", i, name) }
		if e.Type == "" {
			return nil, nil, invalid(field("Type"), "empty")
		}
		if err := validateName(field("Type"), e.Type, MaxTypeLen); err != nil {
			return nil, nil, err
		}
		if err := validateMetadata(field("Metadata"), e.Metadata); err != nil {
			return nil, nil, err
		}
		size := len(e.Data) + len(e.Metadata)
		if size > s.maxEvent {
			return nil, nil, invalid(field("Data"), "%d bytes of data and metadata, over the store's MaxEventBytes (%d)", size, s.maxEvent)
		}
		if batchBytes += size; batchBytes > s.maxBatch {
			return nil, nil, invalid("events", "more than %d bytes of data and metadata in one append, over the store's MaxBatchBytes", s.maxBatch)
		}
		p := PreparedEvent{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata, Time: e.Time.UTC()}
		if e.Time.IsZero() {
			p.Time = now
		} else if e.Time.Before(MinTime) || e.Time.After(MaxTime) {
			return nil, nil, invalid(field("Time"), "%v is outside %d..%d", e.Time, MinTime.Year(), MaxTime.Year())
		}
		if e.ID != "" {
			if err := validateName(field("ID"), e.ID, MaxIDLen); err != nil {
				return nil, nil, err
			}
			if seen == nil {
				seen = make(map[string]int, len(events))
			}
			if j, dup := seen[e.ID]; dup {
				if from == nil {
					// Every event so far was kept, each at its own index.
					from = make([]int, i, len(events))
					for k := range from {
						from[k] = k
					}
				}
				from = append(from, j)
				continue
			}
			seen[e.ID] = len(out)
			p.Keyed = true
		} else {
			unkeyed++
		}
		if from != nil {
			from = append(from, len(out))
		}
		out = append(out, p)
	}
	if unkeyed > 0 {
		ids := s.ids.New(unkeyed)
		for i := range out {
			if !out[i].Keyed {
				out[i].ID, ids = ids[0], ids[1:]
			}
		}
	}
	return out, from, nil
}

// ReadOptions shape a read. The zero value (or nil) reads forwards, without
// limit or filter.
type ReadOptions struct {
	// Backwards reads newest first. Then from is still exclusive: events
	// before it, where 0 (or the zero Position) means from the end.
	Backwards bool
	// Limit caps the number of events returned; 0 means no limit.
	// With Backwards, Limit n reads "the last n events".
	Limit int
	// Filter selects events (see [Filter]); nil passes all.
	Filter Filter
}

// Read returns the events of stream with version greater than from, in
// version order (or, with opts.Backwards, those before from, newest first).
// A stream that does not exist reads as empty.
//
// The iterator does nothing until ranged over; each range reads afresh. It fetches
// events a page at a time and holds no database resource while the loop
// body runs, so memory stays constant for any stream length and the body
// may call the store (even Append to the same stream). An error, including
// ctx's, ends the iteration as the final pair.
func (s *Store) Read(ctx context.Context, stream string, from int64, opts *ReadOptions) iter.Seq2[Event, error] {
	o := readOptions(opts)
	return func(yield func(Event, error) bool) {
		from := from // every range over the iterator starts from the argument
		if err := s.checkRead(stream, from, o); err != nil {
			yield(Event{}, err)
			return
		}
		pages(s, o.Limit, yield, func(n int) ([]Event, error) {
			res, err := s.readStream(ctx, &ReadStreamParams{Stream: stream, From: from, Backwards: o.Backwards, Limit: n, Filter: o.Filter}, false)
			if err != nil {
				return nil, fmt.Errorf("chronicle: read %q: %w", stream, err)
			}
			if len(res.Events) > 0 {
				from = res.Events[len(res.Events)-1].Version
			}
			return res.Events, nil
		})
	}
}

func (s *Store) checkRead(stream string, from int64, o ReadOptions) error {
	if err := ValidateStreamName(stream); err != nil {
		return err
	}
	if from < 0 {
		return invalid("from", "negative version %d", from)
	}
	return checkOptions(o)
}

func checkOptions(o ReadOptions) error {
	if o.Limit < 0 {
		return invalid("ReadOptions.Limit", "negative (%d)", o.Limit)
	}
	return o.Filter.Validate()
}

// readOptions copies opts with its filter normalized for the backend.
func readOptions(opts *ReadOptions) ReadOptions {
	if opts == nil {
		return ReadOptions{}
	}
	o := *opts
	o.Filter = o.Filter.normalized()
	return o
}

// ReadAll returns the events of the global stream after from (exclusive), in
// commit order, across all streams; with opts.Backwards, those before from,
// newest first. It behaves like [Store.Read] otherwise.
func (s *Store) ReadAll(ctx context.Context, from Position, opts *ReadOptions) iter.Seq2[Event, error] {
	o := readOptions(opts)
	return func(yield func(Event, error) bool) {
		from := from // every range over the iterator starts from the argument
		if err := checkOptions(o); err != nil {
			yield(Event{}, err)
			return
		}
		pages(s, o.Limit, yield, func(n int) ([]Event, error) {
			res, err := s.readAll(ctx, &ReadAllParams{From: from, Backwards: o.Backwards, Limit: n, Filter: o.Filter}, false)
			if err != nil {
				return nil, fmt.Errorf("chronicle: read all: %w", err)
			}
			if len(res.Events) > 0 {
				from = res.Events[len(res.Events)-1].Position
			}
			return res.Events, nil
		})
	}
}

// pages is the paging loop of every listing iterator: it fetches pages of
// at most the store's page size (and at most limit items in all, when limit
// is positive) through the close gate, yields their items, and stops at a
// short page, at the limit, at an error (yielded as the final pair) or when
// the loop body stops. fetch advances the caller's cursor past the page.
func pages[T any](s *Store, limit int, yield func(T, error) bool, fetch func(n int) ([]T, error)) {
	left := limit
	for {
		n := s.pageSize
		if limit > 0 && left < n {
			n = left
		}
		page, err := call(s, func() ([]T, error) { return fetch(n) })
		if err != nil {
			var zero T
			yield(zero, err)
			return
		}
		for _, item := range page {
			if !yield(item, nil) {
				return
			}
		}
		if limit > 0 {
			if left -= len(page); left == 0 {
				return
			}
		}
		if len(page) < n {
			return
		}
	}
}

// call runs one backend call through the close gate.
func call[T any](s *Store, f func() (T, error)) (T, error) {
	if err := s.enter(); err != nil {
		var zero T
		return zero, err
	}
	defer s.leave()
	return f()
}

// Backend returns the backend the store runs on, for packages that extend a
// Store (such as package projection); applications rarely need it. Calls
// made on it directly bypass the Store's validation and its Close gate.
func (s *Store) Backend() Backend { return s.b }
