package chronicle

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"
)

// StreamInfo describes one stream.
type StreamInfo struct {
	Stream    string
	Version   int64     // its current version; 0 when it has no events
	Events    int64     // how many events it holds (equal to Version)
	FirstTime time.Time // Time of its first event; zero when empty
	LastTime  time.Time // Time of its last event; zero when empty
}

// Stats describes a whole store.
type Stats struct {
	Events   int64    // events in all streams
	Streams  int64    // streams with at least one event
	Head     Position // position of the last event committed; zero when empty
	Watchers int64    // watches running on this Store now
}

// StreamInfo returns the metrics of stream. A stream that does not exist has
// version 0 and zero times.
func (s *Store) StreamInfo(ctx context.Context, stream string) (StreamInfo, error) {
	if err := ValidateStreamName(stream); err != nil {
		return StreamInfo{}, err
	}
	info, err := call(s, func() (StreamInfo, error) { return s.b.StreamInfo(ctx, stream) })
	if err != nil {
		return StreamInfo{}, fmt.Errorf("chronicle: stream info %q: %w", stream, err)
	}
	info.Stream = stream
	return info, nil
}

// Stats returns the store's metrics.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st, err := call(s, func() (Stats, error) { return s.b.Stats(ctx) })
	if err != nil {
		return Stats{}, fmt.Errorf("chronicle: stats: %w", err)
	}
	st.Watchers = s.watchers.Load()
	return st, nil
}

// ListStreamsOptions shape [Store.ListStreams].
type ListStreamsOptions struct {
	// Prefix keeps only streams whose names start with it; "" keeps all.
	Prefix string
	// After starts the listing after this name (exclusive), to resume a
	// listing that stopped early.
	After string
	// Limit caps the number of streams returned; 0 means no limit.
	Limit int
}

// ListStreams returns the streams that hold events, in byte order of their
// names, with their metrics. Like [Store.Read] it pages internally and holds
// nothing while the loop body runs.
func (s *Store) ListStreams(ctx context.Context, opts *ListStreamsOptions) iter.Seq2[StreamInfo, error] {
	var o ListStreamsOptions
	if opts != nil {
		o = *opts
	}
	return func(yield func(StreamInfo, error) bool) {
		if o.Limit < 0 {
			yield(StreamInfo{}, invalid("ListStreamsOptions.Limit", "negative (%d)", o.Limit))
			return
		}
		if strings.ContainsRune(o.Prefix, 0) || len(o.Prefix) > MaxStreamNameLen {
			yield(StreamInfo{}, invalid("ListStreamsOptions.Prefix", "not a stream name prefix"))
			return
		}
		after := o.After
		pages(s, o.Limit, yield, func(n int) ([]StreamInfo, error) {
			page, err := s.b.ListStreams(ctx, &ListStreamsParams{Prefix: o.Prefix, After: after, Limit: n})
			if err != nil {
				return nil, fmt.Errorf("chronicle: list streams: %w", err)
			}
			if len(page) > 0 {
				after = page[len(page)-1].Stream
			}
			return page, nil
		})
	}
}

// EventByID returns the event of stream that was appended with id as its
// ID ([EventData].ID, an idempotency key), and whether there is one: one
// look-up in the store's idempotency index, whatever the stream's length.
// It answers "is this event already stored, and where?": an application
// that derives its events' IDs from a command's ID can tell that a retry
// of the command (say, after a lost reply) finds its events written
// already, before deciding it again (see package aggregate). IDs that the
// store assigned are not keys and are not found by it.
func (s *Store) EventByID(ctx context.Context, stream, id string) (Event, bool, error) {
	if err := ValidateStreamName(stream); err != nil {
		return Event{}, false, err
	}
	if id == "" {
		return Event{}, false, invalid("id", "empty")
	}
	if err := validateName("id", id, MaxIDLen); err != nil {
		return Event{}, false, err
	}
	var found bool
	ev, err := call(s, func() (Event, error) {
		ev, ok, err := s.b.EventByID(ctx, stream, id)
		found = ok
		return ev, err
	})
	if err != nil {
		return Event{}, false, fmt.Errorf("chronicle: event by ID: %w", err)
	}
	return ev, found, nil
}
