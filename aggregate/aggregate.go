// Package aggregate loads entities by folding their streams, decides on
// commands against them and appends the outcome, in the decide/evolve
// style, with the parts that are easy to get wrong done once: the exact
// expected version, deciding again (not re-appending) after a conflict,
// recognising a command that was already applied, and snapshots.
//
//	accounts, err := aggregate.New(store, aggregate.Options[Account, Command, Event]{
//		Category: "account",      // streams account-<id>
//		Registry: reg,            // event types (package registry)
//		Evolve:   Account.Evolve, // func(Account, Event) Account
//		Decide:   decide,         // func(ctx, Account, Command) ([]Event, error)
//		Snapshots: aggregate.Every(100),
//	})
//	res, err := accounts.Handle(ctx, "42", "cmd-7f3a", Withdraw{Cents: 500})
//
// # Commands
//
// [Aggregate.Handle] loads the entity (its latest snapshot, then the events
// after it), calls Decide, and appends the events Decide returned with the
// stream's version as the exact expectation. When another writer appended
// first (a conflict), it reads only the events that arrived since, folds
// them, and calls Decide again on the new state, up to Options.Retries
// times with a short random wait; then it fails with an error that matches
// [chronicle.ErrConflict].
//
// # Command IDs and retries
//
// A command handled with a command ID gets event IDs derived from it
// (commandID/0, commandID/1, …), and Chronicle appends an event whose ID
// the stream holds already as a no-op (see [chronicle.Store.Append]), so
// retrying a command whose reply was lost never writes its events twice.
// More than that, Handle looks the command's first event up
// ([chronicle.Store.EventByID], one index look-up) before it decides, and
// after it has read the state, so that a miss proves the state does not
// hold the command: a command that was applied already, by this process or
// another, returns its original outcome (Result.Duplicate, the version and
// positions of its events) instead of being decided again on a state that
// holds its effect, where a retried withdrawal could be refused as an
// overdraft. A command that decided no events leaves nothing to find;
// retried, it is decided again.
//
// # Snapshots
//
// With Options.Snapshots set, a state is saved as a snapshot of its stream
// after the command that made it, in the background (a command never waits
// for it), under a name that holds Options.StateVersion: raise it when the
// state type changes, and older snapshots are ignored. A snapshot that is
// missing, stale or unreadable only makes a load fold more events.
package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/registry"
)

// Defaults of [Options].
const (
	DefaultRetries = 5
	maxIDSuffix    = 12 // "/" and the index of an event within a command
)

// SnapshotPolicy decides after a command whether to save a snapshot of the
// new state: since is how many events the stream holds beyond the snapshot
// that the command's load started from (all of them, without one).
type SnapshotPolicy func(since int64) bool

// Every returns the policy that saves a snapshot once n events have
// followed the last one.
func Every(n int64) SnapshotPolicy { return func(since int64) bool { return since >= n } }

// Options describe an aggregate type: a state S folded from events of type
// E (usually an interface that the event structs implement), and commands
// of type C.
type Options[S, C, E any] struct {
	// Category names the streams: Category + "-" + the entity's ID.
	Category string
	// Registry encodes and decodes the events; every event type that
	// Decide returns and that the streams hold must be registered, as a
	// type that implements E.
	Registry *registry.Registry
	// Events, when set, lists a value of every event type Decide may
	// return: New fails unless each is registered, so that a missing
	// registration shows at start-up rather than at the first command
	// that returns it.
	Events []E
	// Initial returns the state of an entity without events. Nil means the
	// zero S (a nil pointer, for a pointer S: set Initial then).
	Initial func() S
	// Evolve returns the state after event e. Nil means S's method
	// Evolve(E) S.
	Evolve func(state S, e E) S
	// Decide returns the events that command c causes in state s, or an
	// error that refuses it (returned to the caller of Handle, wrapped).
	// It may be called more than once for one command (after a conflict)
	// and must not have side effects. Nil means S's method
	// Decide(context.Context, C) ([]E, error).
	Decide func(ctx context.Context, s S, c C) ([]E, error)
	// Retries bounds how many times a command is decided again after a
	// conflict. Zero means DefaultRetries; negative means none.
	Retries int
	// Snapshots, when set, decides when to save a snapshot.
	Snapshots SnapshotPolicy
	// StateVersion is the schema version of S in snapshots: snapshots of
	// another version are ignored. Zero means 1.
	StateVersion int
	// StateCodec encodes states in snapshots. Nil means registry.JSON.
	StateCodec registry.Codec
	// Logger receives the logs of background snapshot saves. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Aggregate handles the commands of one aggregate type. It is safe for
// concurrent use. Close it to wait for the snapshot saves in flight.
type Aggregate[S, C, E any] struct {
	store  *chronicle.Store
	o      Options[S, C, E]
	snap   string // the snapshots' name
	saves  chan snapshotSave
	closed chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

type snapshotSave struct {
	stream  string
	version int64
	state   []byte
}

// evolver and decider are the methods a state type may have instead of
// Options.Evolve and Options.Decide.
type evolver[S, E any] interface{ Evolve(E) S }
type decider[C, E any] interface {
	Decide(context.Context, C) ([]E, error)
}

// ErrInvalidID: an entity or command ID that cannot be part of a stream
// name or an event ID. It wraps chronicle.ErrInvalid.
var ErrInvalidID = fmt.Errorf("aggregate: %w", chronicle.ErrInvalid)

// New returns the aggregate type o describes, on store.
func New[S, C, E any](store *chronicle.Store, o Options[S, C, E]) (*Aggregate[S, C, E], error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("aggregate: %w: %s", chronicle.ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case store == nil:
		return nil, bad("nil store")
	case o.Registry == nil:
		return nil, bad("%s: no registry", o.Category)
	case chronicle.ValidateStreamName(o.Category+"-x") != nil || o.Category == "":
		return nil, bad("category %q cannot start a stream name", o.Category)
	case o.StateVersion < 0:
		return nil, bad("%s: state version %d", o.Category, o.StateVersion)
	}
	for _, e := range o.Events {
		if _, err := o.Registry.Name(e); err != nil {
			return nil, fmt.Errorf("aggregate: %s: %w", o.Category, err)
		}
	}
	var zero S
	if o.Evolve == nil {
		if _, ok := any(zero).(evolver[S, E]); !ok {
			hint := ""
			if _, ptr := any(new(S)).(interface{ Evolve(E) S }); ptr {
				hint = " (its method has a pointer receiver: give it a value receiver)"
			}
			return nil, bad("%s: no Evolve, and %s has no method Evolve(%s) %s%s", o.Category, typeName[S](), typeName[E](), typeName[S](), hint)
		}
		o.Evolve = func(s S, e E) S { return any(s).(evolver[S, E]).Evolve(e) }
	}
	if o.Decide == nil {
		if _, ok := any(zero).(decider[C, E]); !ok {
			return nil, bad("%s: no Decide, and %s has no method Decide(context.Context, %s) ([]%s, error)", o.Category, typeName[S](), typeName[C](), typeName[E]())
		}
		o.Decide = func(ctx context.Context, s S, c C) ([]E, error) { return any(s).(decider[C, E]).Decide(ctx, c) }
	}
	if o.Initial == nil {
		o.Initial = func() S { var s S; return s }
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.StateVersion == 0 {
		o.StateVersion = 1
	}
	if o.StateCodec == nil {
		o.StateCodec = registry.JSON{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &Aggregate[S, C, E]{store: store, o: o, closed: make(chan struct{}),
		snap: "aggregate/" + o.Category + "/state-v" + strconv.Itoa(o.StateVersion)}
	if o.Snapshots != nil {
		a.saves = make(chan snapshotSave, 64)
		a.wg.Go(a.saveLoop)
	}
	return a, nil
}

func typeName[T any]() string {
	var p *T
	return strings.TrimPrefix(fmt.Sprintf("%T", p), "*")
}

// Stream returns the name of the stream of the entity id.
func (a *Aggregate[S, C, E]) Stream(id string) string { return a.o.Category + "-" + id }

// Loaded is an entity as [Aggregate.Load] read it.
type Loaded[S any] struct {
	ID      string
	State   S
	Version int64 // the stream's version the state includes: 0 for a new entity
	// Replayed is how many events were folded after the snapshot the load
	// started from (every event of the stream, without one).
	Replayed int64
}

// Load returns the current state of the entity id: its latest readable
// snapshot, if any, and the events after it, folded.
func (a *Aggregate[S, C, E]) Load(ctx context.Context, id string) (Loaded[S], error) {
	stream, err := a.stream(id)
	if err != nil {
		return Loaded[S]{}, err
	}
	l := Loaded[S]{ID: id, State: a.o.Initial()}
	if a.o.Snapshots != nil {
		snap, found, err := a.store.LoadSnapshot(ctx, stream, a.snap)
		if err != nil {
			return Loaded[S]{}, fmt.Errorf("aggregate: load %s: %w", stream, err)
		}
		if found {
			s := a.o.Initial()
			if err := a.o.StateCodec.Unmarshal(snap.State, &s); err == nil {
				l.State, l.Version = s, snap.Version
			} else {
				a.o.Logger.Warn("chronicle aggregate: snapshot unreadable; folding the whole stream", "stream", stream, "err", err)
			}
		}
	}
	if err := a.catchUp(ctx, stream, &l); err != nil {
		return Loaded[S]{}, err
	}
	return l, nil
}

// catchUp folds the events of stream after l.Version into l.
func (a *Aggregate[S, C, E]) catchUp(ctx context.Context, stream string, l *Loaded[S]) error {
	for ev, err := range a.store.Read(ctx, stream, l.Version, nil) {
		if err != nil {
			return fmt.Errorf("aggregate: load %s: %w", stream, err)
		}
		e, err := a.decode(ev)
		if err != nil {
			return err
		}
		l.State = a.o.Evolve(l.State, e)
		l.Version = ev.Version
		l.Replayed++
	}
	return nil
}

func (a *Aggregate[S, C, E]) decode(ev chronicle.Event) (E, error) {
	var zero E
	v, err := a.o.Registry.Decode(ev)
	if err != nil {
		return zero, fmt.Errorf("aggregate: %s version %d: %w", ev.Stream, ev.Version, err)
	}
	e, ok := v.(E)
	if !ok {
		return zero, fmt.Errorf("aggregate: %s version %d: %w: %T is not a %s", ev.Stream, ev.Version, chronicle.ErrInvalid, v, typeName[E]())
	}
	return e, nil
}

func (a *Aggregate[S, C, E]) stream(id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("%w: empty entity ID", ErrInvalidID)
	}
	stream := a.Stream(id)
	if err := chronicle.ValidateStreamName(stream); err != nil {
		return "", fmt.Errorf("%w: entity ID %q: %v", ErrInvalidID, id, err)
	}
	return stream, nil
}

// Result is the outcome of a command.
type Result[S, E any] struct {
	// Version is the stream's version after the command's events (its
	// version when the command decided no events).
	Version int64
	// Events are the events the command caused, and Positions their
	// positions in the global stream (for projection.Runner.WaitFor).
	Events    []E
	Positions []chronicle.Position
	// State is the entity's state after the command; the zero S for a
	// Duplicate.
	State S
	// Duplicate reports that the command ID's events were in the stream
	// already: the command had been applied (its reply lost, say), and
	// Version, Events and Positions are those of that time.
	Duplicate bool
	// Attempts is how many times the command was decided.
	Attempts int
}

// Handle handles cmd on the entity id, as the package documentation
// describes. commandID, when not empty, identifies the command across
// retries (at most [chronicle.MaxIDLen] bytes less room for the event
// index); "" handles it without one.
//
// Errors: Decide's error, wrapped; one matching [chronicle.ErrConflict]
// after Options.Retries conflicts in a row; and the store's.
func (a *Aggregate[S, C, E]) Handle(ctx context.Context, id, commandID string, cmd C) (Result[S, E], error) {
	stream, err := a.stream(id)
	if err != nil {
		return Result[S, E]{}, err
	}
	if commandID != "" && (len(commandID)+maxIDSuffix > chronicle.MaxIDLen || strings.ContainsRune(commandID, 0)) {
		return Result[S, E]{}, fmt.Errorf("%w: command ID of %d bytes (at most %d)", ErrInvalidID, len(commandID), chronicle.MaxIDLen-maxIDSuffix)
	}
	l, err := a.Load(ctx, id)
	if err != nil {
		return Result[S, E]{}, err
	}
	from := l.Version - l.Replayed // the snapshot's version
	for attempt := 1; ; attempt++ {
		// The command is looked up after the state was read: if it is not
		// found, the state cannot hold its effect, and an append of it by
		// another writer after this look-up moves the stream's version,
		// so that this one's append conflicts.
		if commandID != "" {
			if res, found, err := a.applied(ctx, stream, commandID); err != nil || found {
				return res, err
			}
		}
		events, err := a.o.Decide(ctx, l.State, cmd)
		if err != nil {
			return Result[S, E]{}, fmt.Errorf("aggregate: %s: %w", stream, err)
		}
		if len(events) == 0 {
			return Result[S, E]{Version: l.Version, State: l.State, Attempts: attempt}, nil
		}
		data := make([]chronicle.EventData, len(events))
		for i, e := range events {
			if data[i], err = a.o.Registry.Encode(e); err != nil {
				return Result[S, E]{}, fmt.Errorf("aggregate: %s: %w", stream, err)
			}
			if commandID != "" {
				data[i].ID = eventID(commandID, i)
			}
		}
		res, err := a.store.Append(ctx, stream, chronicle.Exactly(l.Version), data...)
		var conflict *chronicle.ConflictError
		switch {
		case err == nil && commandID != "" && res.Written < len(events):
			// Another writer applied this very command after the look-up:
			// its events were found (and an append that finds them all
			// writes nothing, whatever the expectation). Return its
			// outcome, never this decision's.
			return a.appliedElsewhere(ctx, stream, commandID)
		case err == nil:
			state := l.State
			for _, e := range events {
				state = a.o.Evolve(state, e)
			}
			a.maybeSnapshot(stream, from, res.Version, state)
			return Result[S, E]{Version: res.Version, Events: events, Positions: res.Positions, State: state, Attempts: attempt}, nil
		case !errors.As(err, &conflict):
			return Result[S, E]{}, fmt.Errorf("aggregate: %s: %w", stream, err)
		case attempt > a.o.Retries:
			return Result[S, E]{}, fmt.Errorf("aggregate: %s: gave up after %d conflicts with other writers: %w", stream, attempt, err)
		}
		// A conflict: wait a little, then fold what arrived and decide
		// again. A store that reads from a replica may not show all of it
		// at once: read until the version the conflict reported.
		if err := sleep(ctx, attempt); err != nil {
			return Result[S, E]{}, err
		}
		for try := 0; ; try++ {
			if err := a.catchUp(ctx, stream, &l); err != nil {
				return Result[S, E]{}, err
			}
			if l.Version >= conflict.Actual || try == replicaTries {
				break
			}
			if err := sleep(ctx, 1); err != nil {
				return Result[S, E]{}, err
			}
		}
	}
}

// replicaTries bounds the reads that wait for a replica to show what a
// conflict or a duplicate reported.
const replicaTries = 200

// appliedElsewhere returns the outcome of a command that another writer
// applied, whose events an append found: on a store that reads from a
// replica, they may take a moment to show.
func (a *Aggregate[S, C, E]) appliedElsewhere(ctx context.Context, stream, commandID string) (Result[S, E], error) {
	for try := 0; ; try++ {
		res, found, err := a.applied(ctx, stream, commandID)
		if err != nil || found {
			return res, err
		}
		if try == replicaTries {
			return Result[S, E]{}, fmt.Errorf("aggregate: %s: an append found the events of command %q, but reads do not show them", stream, commandID)
		}
		if err := sleep(ctx, 1); err != nil {
			return Result[S, E]{}, err
		}
	}
}

// sleep waits a random time below 2^attempt milliseconds (at most 100 ms),
// so that writers that conflicted do not meet again at once.
func sleep(ctx context.Context, attempt int) error {
	limit := min(time.Duration(1<<min(attempt, 7))*time.Millisecond, 100*time.Millisecond)
	t := time.NewTimer(rand.N(limit) + time.Millisecond/4)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// eventID is the ID of the i-th event of a command.
func eventID(commandID string, i int) string { return commandID + "/" + strconv.Itoa(i) }

// applied reports whether the command's first event is in the stream and,
// if so, its outcome.
func (a *Aggregate[S, C, E]) applied(ctx context.Context, stream, commandID string) (Result[S, E], bool, error) {
	first, found, err := a.store.EventByID(ctx, stream, eventID(commandID, 0))
	if err != nil {
		return Result[S, E]{}, false, fmt.Errorf("aggregate: %s: %w", stream, err)
	}
	if !found {
		return Result[S, E]{}, false, nil
	}
	res, err := a.replay(ctx, stream, commandID, first)
	return res, true, err
}

// replay returns the outcome of a command whose first event is first.
func (a *Aggregate[S, C, E]) replay(ctx context.Context, stream, commandID string, first chronicle.Event) (Result[S, E], error) {
	res := Result[S, E]{Duplicate: true}
	for ev, err := range a.store.Read(ctx, stream, first.Version-1, nil) {
		if err != nil {
			return Result[S, E]{}, fmt.Errorf("aggregate: %s: %w", stream, err)
		}
		if ev.ID != eventID(commandID, len(res.Events)) {
			break
		}
		e, err := a.decode(ev)
		if err != nil {
			return Result[S, E]{}, err
		}
		res.Events = append(res.Events, e)
		res.Positions = append(res.Positions, ev.Position)
		res.Version = ev.Version
	}
	return res, nil
}

// maybeSnapshot queues a snapshot save when the policy says so; a full
// queue drops it (the next command tries again).
func (a *Aggregate[S, C, E]) maybeSnapshot(stream string, from, version int64, state S) {
	if a.o.Snapshots == nil || !a.o.Snapshots(version-from) {
		return
	}
	data, err := a.o.StateCodec.Marshal(state)
	if err != nil {
		a.o.Logger.Warn("chronicle aggregate: snapshot not encoded", "stream", stream, "err", err)
		return
	}
	select {
	case <-a.closed:
	case a.saves <- snapshotSave{stream: stream, version: version, state: data}:
	default:
	}
}

func (a *Aggregate[S, C, E]) saveLoop() {
	for {
		select {
		case s := <-a.saves:
			a.save(s)
		case <-a.closed:
			for {
				select {
				case s := <-a.saves:
					a.save(s)
				default:
					return
				}
			}
		}
	}
}

func (a *Aggregate[S, C, E]) save(s snapshotSave) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.store.SaveSnapshot(ctx, s.stream, a.snap, s.version, s.state); err != nil && !errors.Is(err, chronicle.ErrClosed) {
		a.o.Logger.Warn("chronicle aggregate: snapshot not saved", "stream", s.stream, "version", s.version, "err", err)
	}
}

// Close waits for the snapshot saves in flight and stops the aggregate's
// goroutine. Handle and Load still work after it, without snapshots
// saved. It is safe to call more than once.
func (a *Aggregate[S, C, E]) Close() error {
	a.once.Do(func() { close(a.closed) })
	a.wg.Wait()
	return nil
}
