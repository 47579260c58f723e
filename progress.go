package chronicle

import (
	"context"
	"fmt"
)

// Head returns the position of the newest event of the global stream that a
// read would return now, or the zero Position when the store is empty. It
// costs one index look-up.
func (s *Store) Head(ctx context.Context) (Position, error) {
	head, err := call(s, func() (Position, error) { return s.b.Head(ctx) })
	if err != nil {
		return Position{}, fmt.Errorf("chronicle: head: %w", err)
	}
	return head, nil
}

// Notify returns a channel that is closed when the store next learns of a
// commit: its own appends at once, those of other processes through the
// backend's change check (for SQLite, within Options.PollInterval), and when
// the store closes. A notification is only a hint to read again: take the
// channel before reading, read, then wait on it, and no commit goes
// unnoticed. [Store.Watch] and [Store.WatchAll] do this for their callers;
// Notify serves consumers that read pages themselves (see
// [Store.ReadAllPage]).
func (s *Store) Notify() <-chan struct{} { return s.changes.Wait() }

// Page is a page of the global stream, as [Store.ReadAllPage] returns it.
type Page struct {
	// Events are the events after the page's start that pass its filter, in
	// commit order.
	Events []Event
	// Next is where the following page starts. Every event of the global
	// stream up to Next that passes the filter is in Events or before the
	// page's start: with a filter, Next moves past the events it skipped,
	// up to the head the read saw. Next may be before the page's start
	// when the store has not reached it (see [Store.ReadAllPage]).
	Next Position
	// Full reports that the page holds limit events, so more may follow at
	// once.
	Full bool
}

// ReadAllPage reads one page of the global stream: up to limit events after
// from (exclusive) that pass filter, in commit order, and the position where
// the next page starts. Unlike [Store.ReadAll] it tells how far the global
// stream was examined, so a consumer with a filter (a projection) can record
// its progress past the events it skipped, and wait on [Store.Notify] when a
// page is not full.
//
// A Next before from means that the store's head is before from: a
// checkpoint taken from another store, or from this one before it lost its
// last commits (a restored copy; a power loss under synchronous=NORMAL).
// Consumers that keep checkpoints should treat that as an error.
func (s *Store) ReadAllPage(ctx context.Context, from Position, limit int, filter Filter) (Page, error) {
	if limit <= 0 {
		return Page{}, invalid("limit", "%d, want a positive number", limit)
	}
	if from == EndPosition() {
		return Page{}, invalid("from", "the end sentinel is not a position to read from")
	}
	if err := filter.Validate(); err != nil {
		return Page{}, err
	}
	filter = filter.normalized()
	res, err := call(s, func() (ReadAllResult, error) {
		return s.readAll(ctx, &ReadAllParams{From: from, Limit: limit, Filter: filter}, false)
	})
	if err != nil {
		return Page{}, fmt.Errorf("chronicle: read all: %w", err)
	}
	p := Page{Events: res.Events, Next: res.Next, Full: len(res.Events) == limit}
	if n := len(p.Events); n > 0 && p.Next.Before(p.Events[n-1].Position) {
		p.Next = p.Events[n-1].Position
	}
	return p, nil
}
