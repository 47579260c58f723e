package chronicle

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"time"
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
	// RetryFor is how long the watch rides out storage that is
	// unavailable or busy (errors matching [ErrUnavailable] or [ErrBusy],
	// such as a database server restarting): it retries from its own
	// position, with a growing pause of up to [MaxWatchRetryPause], and the
	// loop body sees nothing but a delay; the events go on in order,
	// without a gap or a repeat. Past RetryFor without a successful read it
	// ends with the last error. Zero means [DefaultWatchRetry]; a negative
	// value ends the watch at the first error.
	RetryFor time.Duration
}

// Bounds of a watch's retries (see [WatchOptions.RetryFor]).
const (
	// DefaultWatchRetry is how long a watch rides out unavailable storage
	// when WatchOptions.RetryFor is zero.
	DefaultWatchRetry = time.Minute
	// MaxWatchRetryPause is the longest pause between a watch's retries.
	MaxWatchRetryPause = 2 * time.Second
	// firstWatchRetryPause is the first pause; each retry doubles it.
	firstWatchRetryPause = 50 * time.Millisecond
)

// Watch delivers the events of stream with version greater than from: first
// the history, then each new event as it commits, in version order, never
// skipping or repeating one, also across the hand-off from history to live.
// from may be [FromEnd] for new events only.
//
// Like every iterator of a Store, it does nothing until ranged over, and
// each range over it starts afresh from from.
//
// The iterator runs until the loop breaks, ctx is done (the final pair
// carries ctx.Err()), the store closes (the final pair carries
// [ErrClosed]) or a read fails (the final pair carries the error); while
// the storage is unavailable (a database server restarting), the watch
// retries by itself for [WatchOptions.RetryFor] before it gives up.
// Appends through this store wake watchers at once; appends by other
// processes are noticed by the backend's change check (for SQLite, every
// Options.PollInterval). A slow loop body delays only its own watch.
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
			var info StreamInfo
			err := s.retrying(ctx, o, func() (err error) {
				info, err = call(s, func() (StreamInfo, error) { return s.b.StreamInfo(ctx, stream) })
				return err
			})
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
			var head Position
			err := s.retrying(ctx, o, func() (err error) {
				head, err = call(s, func() (Position, error) { return s.b.Head(ctx) })
				return err
			})
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
	r := s.newRider(o)
	defer r.end()
	for {
		// Take the wake-up channel before looking, so a commit that lands
		// after the look wakes this watch.
		var wake <-chan struct{}
		if live {
			wake = s.tail.advanced.Wait()
			if window, end, ok := s.tail.since(seen); ok {
				// The window covers the watch again: whatever failed
				// before works (the window was read from storage).
				r.recovered()
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
			if err = r.retry(ctx, err); err == nil {
				continue
			}
			yield(Event{}, err)
			return
		}
		r.recovered()
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

// rider rides out a watch's transient storage errors (see
// [WatchOptions.RetryFor]). The store logs an outage once, however many
// watches it stops: at Warn when the first watch starts retrying, at Info
// when the last one of them goes on (or gives up); each watch's own
// retries are at Debug.
type rider struct {
	s      *Store
	limit  time.Duration // < 0: no retries
	failed time.Time     // when the current run of errors began; zero when none
	pause  time.Duration // the next pause
}

func (s *Store) newRider(o WatchOptions) rider {
	limit := o.RetryFor
	if limit == 0 {
		limit = DefaultWatchRetry
	}
	return rider{s: s, limit: limit}
}

// retry waits before the next attempt after err and returns nil, or
// returns the error that ends the watch: err itself when it is not
// transient or the time to retry is up, or the reason the wait ended
// (ctx's error, ErrClosed).
func (r *rider) retry(ctx context.Context, err error) error {
	if r.limit < 0 || !(errors.Is(err, ErrUnavailable) || errors.Is(err, ErrBusy)) {
		return err
	}
	now := time.Now()
	if r.failed.IsZero() {
		r.failed, r.pause = now, firstWatchRetryPause
		if r.s.riding.Add(1) == 1 {
			r.s.log.Warn("chronicle: watch: storage unavailable or busy; watches retrying", "err", err, "for", r.limit)
		} else {
			r.s.log.Debug("chronicle: watch: storage unavailable or busy; retrying", "err", err, "for", r.limit)
		}
	}
	left := r.limit - now.Sub(r.failed)
	if left <= 0 {
		r.s.log.Warn("chronicle: watch: storage still unavailable or busy; giving up", "err", err, "after", now.Sub(r.failed).Round(time.Millisecond))
		return err
	}
	// Up to a quarter less, so that many watches do not retry in step.
	pause := min(r.pause-rand.N(r.pause/4), left)
	r.pause = min(2*r.pause, MaxWatchRetryPause)
	t := time.NewTimer(pause)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.s.done:
		return ErrClosed
	}
}

// recovered notes that the watch moves on, ending a run of errors.
func (r *rider) recovered() {
	if r.failed.IsZero() {
		return
	}
	after := time.Since(r.failed).Round(time.Millisecond)
	r.failed = time.Time{}
	if r.s.riding.Add(-1) == 0 {
		r.s.log.Info("chronicle: watch: storage available again; watches resumed", "after", after)
	} else {
		r.s.log.Debug("chronicle: watch: storage available again; resuming", "after", after)
	}
}

// end closes a run of errors that the watch ends in.
func (r *rider) end() {
	if !r.failed.IsZero() {
		r.failed = time.Time{}
		r.s.riding.Add(-1)
	}
}

// retrying runs f until it succeeds, riding out transient errors as a
// watch does.
func (s *Store) retrying(ctx context.Context, o WatchOptions, f func() error) error {
	r := s.newRider(o)
	defer r.end()
	for {
		err := f()
		if err == nil {
			r.recovered()
			return nil
		}
		if err = r.retry(ctx, err); err != nil {
			return err
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
