package chronicle

import (
	"context"
	"fmt"
	"iter"
)

// FromEnd, passed as from to [Store.Watch], starts at the stream's version
// when the iteration starts (the iterator is lazy, like every iterator of a
// Store): only events appended afterwards are delivered.
// [EndPosition] is its counterpart for [Store.WatchAll].
const FromEnd int64 = -1

// WatchOptions shape a watch. The zero value (or nil) is fine.
type WatchOptions struct {
	// Filter selects events (see [Filter]); nil passes all.
	Filter Filter
	// CaughtUp, when set, is called once, from the iterating goroutine,
	// after the history up to the head has been delivered and before the
	// watch starts waiting for new events.
	CaughtUp func()
}

// Watch delivers the events of stream with version greater than from: first
// the history, then each new event as it commits, in version order, never
// skipping or repeating one, also across the hand-off from history to live.
// from may be [FromEnd] for new events only.
//
// Like every iterator of a Store, it does nothing until ranged over, and
// each range over it starts afresh from from.
//
// The iterator runs until the loop breaks, ctx is done (the final pair
// carries ctx.Err()) or the store closes (the final pair carries
// [ErrClosed]). Appends through this store wake watchers at once; appends
// by other processes are noticed by the backend's change check (for SQLite,
// every Options.PollInterval). A slow loop body delays only its own watch.
//
// The Data and Metadata of the events yielded may be shared with other
// watches: read them, keep them, but do not modify them (see [Event]).
func (s *Store) Watch(ctx context.Context, stream string, from int64, opts *WatchOptions) iter.Seq2[Event, error] {
	o := watchOptions(opts)
	return func(yield func(Event, error) bool) {
		from := from // every range over the iterator starts from the argument
		if err := ValidateStreamName(stream); err != nil {
			yield(Event{}, err)
			return
		}
		if from < FromEnd {
			yield(Event{}, invalid("from", "negative version %d", from))
			return
		}
		if err := o.Filter.Validate(); err != nil {
			yield(Event{}, err)
			return
		}
		if from == FromEnd {
			info, err := call(s, func() (StreamInfo, error) { return s.b.StreamInfo(ctx, stream) })
			if err != nil {
				yield(Event{}, fmt.Errorf("chronicle: watch %q: %w", stream, err))
				return
			}
			from = info.Version
		}
		m := newMatcher(o.Filter)
		s.watchLoop(ctx, o, yield, cursor{
			read: func() ([]Event, bool, Position, error) {
				res, err := s.readStream(ctx, &ReadStreamParams{Stream: stream, From: from, Limit: s.pageSize, Filter: o.Filter}, true)
				if err != nil {
					return nil, false, Position{}, fmt.Errorf("chronicle: watch %q: %w", stream, err)
				}
				from = max(from, res.Next)
				return res.Events, len(res.Events) == s.pageSize, res.Head, nil
			},
			match:   func(ev *Event) bool { return ev.Stream == stream && ev.Version > from && m.match(ev) },
			advance: func(ev *Event) { from = ev.Version },
			skip:    func(Position) {},
			info:    WatchInfo{Stream: stream, Filtered: len(o.Filter) > 0},
		})
	}
}

// WatchAll is [Store.Watch] for the global stream: every event of every
// stream that passes opts.Filter, after from, in commit order. from may be
// [EndPosition] for new events only (those committed after the iteration
// starts); a checkpoint saved from an event's
// Position resumes exactly after that event. As with Watch, the events'
// Data and Metadata are read-only.
func (s *Store) WatchAll(ctx context.Context, from Position, opts *WatchOptions) iter.Seq2[Event, error] {
	o := watchOptions(opts)
	return func(yield func(Event, error) bool) {
		from := from // every range over the iterator starts from the argument
		if err := o.Filter.Validate(); err != nil {
			yield(Event{}, err)
			return
		}
		if from == EndPosition() {
			head, err := call(s, func() (Position, error) { return s.b.Head(ctx) })
			if err != nil {
				yield(Event{}, fmt.Errorf("chronicle: watch all: %w", err))
				return
			}
			from = head
		}
		m := newMatcher(o.Filter)
		skip := func(pos Position) {
			if from.Before(pos) {
				from = pos
			}
		}
		s.watchLoop(ctx, o, yield, cursor{
			read: func() ([]Event, bool, Position, error) {
				res, err := s.readAll(ctx, &ReadAllParams{From: from, Limit: s.pageSize, Filter: o.Filter}, true)
				if err != nil {
					return nil, false, Position{}, fmt.Errorf("chronicle: watch all: %w", err)
				}
				skip(res.Next)
				return res.Events, len(res.Events) == s.pageSize, res.Next, nil
			},
			match:   func(ev *Event) bool { return from.Before(ev.Position) && m.match(ev) },
			advance: func(ev *Event) { from = ev.Position },
			skip:    skip,
			info:    WatchInfo{Filtered: len(o.Filter) > 0},
		})
	}
}

// watchOptions copies opts with its filter normalized for the backend.
func watchOptions(opts *WatchOptions) WatchOptions {
	if opts == nil {
		return WatchOptions{}
	}
	o := *opts
	o.Filter = o.Filter.normalized()
	return o
}

// cursor is what watchLoop needs of one kind of watch.
type cursor struct {
	// read fetches the next page after the cursor from storage and
	// advances the cursor; more reports a full page; head is the global
	// position up to which the read examined everything (when !more).
	read func() (page []Event, more bool, head Position, err error)
	// match selects the events of the tail's window that the watch
	// delivers; advance moves the cursor past one of them.
	match   func(*Event) bool
	advance func(*Event)
	// skip moves the cursor up to pos: everything before it was examined.
	skip func(pos Position)
	info WatchInfo // for the hooks
}

// watchLoop is the catch-up-then-live loop shared by every watch. It reads
// history from storage until a short page, then goes live: it takes new
// events from the store's tail window, reading from storage again whenever
// the window does not reach back to its cursor.
func (s *Store) watchLoop(ctx context.Context, o WatchOptions, yield func(Event, error) bool, c cursor) {
	s.watchers.Add(1)
	defer s.watchers.Add(-1)
	var obs *watchObs // nil without hooks
	if s.hooks != nil {
		yield, obs = s.observeWatch(ctx, c.info, yield)
		defer obs.end()
	}
	live := false
	defer func() {
		if live {
			s.tail.leave()
		}
	}()
	var seen Position // every event up to it has been examined
	for {
		// Take the wake-up channel before looking, so a commit that lands
		// after the look wakes this watch.
		var wake <-chan struct{}
		if live {
			wake = s.tail.advanced.Wait()
			if window, end, ok := s.tail.since(seen); ok {
				if obs != nil {
					obs.window(window)
				}
				for i := range window {
					ev := &window[i]
					if !c.match(ev) {
						continue
					}
					if !yield(*ev, nil) {
						return
					}
					c.advance(ev)
				}
				seen = end
				c.skip(end)
				if !s.wait(ctx, wake, yield) {
					return
				}
				continue
			}
		}
		var more bool
		var head Position
		page, err := call(s, func() (p []Event, err error) {
			p, more, head, err = c.read()
			return p, err
		})
		if err != nil {
			yield(Event{}, err)
			return
		}
		if obs != nil {
			obs.page(s, page, more, head, live)
		}
		for _, ev := range page {
			if !yield(ev, nil) {
				return
			}
		}
		if more {
			continue
		}
		if seen.Before(head) {
			seen = head
		}
		if !live {
			live = true
			s.tail.join()
			if o.CaughtUp != nil {
				o.CaughtUp()
			}
			continue
		}
		if !s.wait(ctx, wake, yield) {
			return
		}
	}
}

// wait blocks until wake, or ends the watch when ctx is done or the store
// closes, yielding the reason.
func (s *Store) wait(ctx context.Context, wake <-chan struct{}, yield func(Event, error) bool) bool {
	select {
	case <-wake:
		return true
	case <-ctx.Done():
		yield(Event{}, ctx.Err())
	case <-s.done:
		yield(Event{}, ErrClosed)
	}
	return false
}
