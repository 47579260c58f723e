package chronicle

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by a [Store] that belongs to one of
// these classes matches it with [errors.Is]; several also carry details that
// [errors.As] extracts (see [ConflictError], [ValidationError]).
var (
	// ErrClosed is returned by every call made after [Store.Close], and ends
	// running watches.
	ErrClosed = errors.New("chronicle: store closed")

	// ErrConflict is matched by a [*ConflictError]: an append's expectation
	// did not hold and nothing was written.
	ErrConflict = errors.New("chronicle: version conflict")

	// ErrInvalid is matched by a [*ValidationError]: an argument was rejected
	// before anything was written.
	ErrInvalid = errors.New("chronicle: invalid argument")

	// ErrVersionNotReached is returned when a snapshot names a version (or
	// a global position) that its stream has not reached yet.
	ErrVersionNotReached = errors.New("chronicle: version not reached")

	// ErrBusy is returned when the storage stayed locked by another process
	// for longer than the configured busy timeout.
	ErrBusy = errors.New("chronicle: storage busy")

	// ErrIncompatible is returned by a backend's open function when the
	// storage is not a Chronicle store or was written by a newer schema.
	ErrIncompatible = errors.New("chronicle: incompatible storage")

	// ErrStorageFull is returned when a write found no room (a full disk,
	// a quota, a size limit of the storage). Nothing of that write was
	// stored; the store stays usable and writes succeed again once there is
	// room.
	ErrStorageFull = errors.New("chronicle: storage full")

	// ErrReadOnly is returned when a write was refused because the storage
	// cannot be written (a read-only file, directory or mount). Nothing of
	// that write was stored.
	ErrReadOnly = errors.New("chronicle: storage read-only")

	// ErrUnavailable is returned when the storage could not be reached for
	// a while that should pass: a database server refusing or dropping
	// connections, shutting down or starting up (SQLite's locks are
	// [ErrBusy] instead). The call may be repeated once the storage is
	// back. Whether an append that failed so was stored is unknown (the
	// connection may have been lost after its commit); repeating it with
	// the same event IDs is safe, as it writes whatever was not stored and
	// succeeds without writing for what was (see the Idempotency section of
	// [Store.Append]). Watches ride out such errors for
	// [WatchOptions.RetryFor] before they end with one.
	ErrUnavailable = errors.New("chronicle: storage unavailable")

	// ErrNoStore is returned by a backend's open function, when its
	// options say not to create a store, if there is none where it looks
	// (no file, or a file or schema without Chronicle's tables). Nothing
	// was created or changed.
	ErrNoStore = errors.New("chronicle: no store")
)

// ConflictError reports an append whose expectation did not match the
// stream's actual version. It matches [ErrConflict].
type ConflictError struct {
	Stream   string      // the stream appended to
	Expected Expectation // what the caller expected
	Actual   int64       // the stream's version when the append was checked
}

// Error describes the conflict with the stream and both versions.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("chronicle: version conflict on stream %q: expected %s, actual version %d",
		e.Stream, e.Expected, e.Actual)
}

// Is reports whether target is [ErrConflict].
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ValidationError reports a rejected argument. It matches [ErrInvalid].
type ValidationError struct {
	Field  string // what was rejected, e.g. "stream", "events[3].Type", "filter"
	Reason string // why, in a few words
}

// Error names the rejected field and the reason.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("chronicle: invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is [ErrInvalid].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
