package chronicle

import (
	"context"
	"sort"
	"sync"

	"github.com/chronicle-go/chronicle/internal/notify"
)

// Limits of the tail's window of recent events.
const (
	tailMaxEvents = 8192
	tailMaxBytes  = 32 << 20
)

// tail follows the head of the global stream for live watches. While at
// least one watch is live, one goroutine reads each new commit once from
// storage, unfiltered, and keeps a bounded window of the most recent events;
// live watches take what they need from the window, filtering in Go, instead
// of each querying the database on every commit. A watch whose cursor is
// older than the window, or that finds the window invalid, reads from
// storage as before. The window holds every event with a position in
// (base, end], in order.
type tail struct {
	mu     sync.RWMutex // watches read the window under RLock
	valid  bool         // base, end and events describe the store (guarded by mu)
	base   Position
	end    Position
	events []Event
	bytes  int
	live   int // live watches (guarded by mu)

	advanced notify.Broadcaster // announces a new end, or the window invalid
	activate notify.Broadcaster // announces the first live watch
}

// join and leave count live watches; the tail follows the store only while
// there is one.
func (t *tail) join() {
	t.mu.Lock()
	t.live++
	first := t.live == 1
	t.mu.Unlock()
	if first {
		t.activate.Broadcast()
	}
}

func (t *tail) leave() {
	t.mu.Lock()
	if t.live--; t.live == 0 {
		t.valid, t.events, t.bytes = false, nil, 0
	}
	t.mu.Unlock()
}

// since returns the window's events after pos, the window's end, and
// whether the window covers everything after pos. The events are shared
// with every other live watch and must not be modified: the window only
// ever appends past the end of the slice it hands out, and trimming it
// moves to a new array, so the slice stays valid after the lock is gone.
func (t *tail) since(pos Position) ([]Event, Position, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !t.valid || pos.Before(t.base) {
		return nil, Position{}, false
	}
	i := sort.Search(len(t.events), func(i int) bool { return pos.Before(t.events[i].Position) })
	n := len(t.events)
	end := t.end
	if end.Before(pos) {
		end = pos
	}
	return t.events[i:n:n], end, true
}

// run follows the store until ctx ends. It is the store's tail goroutine.
func (t *tail) run(ctx context.Context, s *Store) {
	for {
		// Wait for a live watch, then follow commits while there is one.
		act := t.activate.Wait()
		t.mu.Lock()
		live := t.live > 0
		t.mu.Unlock()
		if !live {
			select {
			case <-act:
				continue
			case <-ctx.Done():
				return
			}
		}
		wake := s.changes.Wait()
		t.follow(ctx, s)
		select {
		case <-wake:
		case <-act:
		case <-ctx.Done():
			return
		}
	}
}

// follow reads every event committed after the window's end into the
// window and announces the new end. On an error it invalidates the window,
// so that live watches read from storage and see the error themselves.
func (t *tail) follow(ctx context.Context, s *Store) {
	defer t.advanced.Broadcast()
	t.mu.Lock()
	valid, end := t.valid, t.end
	t.mu.Unlock()
	if !valid {
		head, err := call(s, func() (Position, error) { return s.b.Head(ctx) })
		if err != nil {
			return
		}
		t.mu.Lock()
		if t.live > 0 {
			t.valid, t.base, t.end, t.events, t.bytes = true, head, head, nil, 0
		}
		end = t.end
		t.mu.Unlock()
	}
	for {
		res, err := call(s, func() (ReadAllResult, error) {
			return s.b.ReadAll(ctx, &ReadAllParams{From: end, Limit: s.pageSize})
		})
		t.mu.Lock()
		if err != nil || !t.valid || t.end != end {
			t.valid, t.events, t.bytes = false, nil, 0
			t.mu.Unlock()
			return
		}
		t.events = append(t.events, res.Events...)
		for i := range res.Events {
			t.bytes += eventBytes(&res.Events[i])
		}
		if end.Before(res.Next) {
			t.end = res.Next
		}
		t.trim()
		end = t.end
		t.mu.Unlock()
		t.advanced.Broadcast()
		if len(res.Events) < s.pageSize {
			return
		}
	}
}

// trim drops the oldest events once the window exceeds its limits, down to
// three quarters of them (so the copying is amortized), moving base.
func (t *tail) trim() {
	if len(t.events) <= tailMaxEvents && t.bytes <= tailMaxBytes {
		return
	}
	drop := 0
	for drop < len(t.events) && (len(t.events)-drop > tailMaxEvents*3/4 || t.bytes > tailMaxBytes*3/4) {
		t.bytes -= eventBytes(&t.events[drop])
		t.base = t.events[drop].Position
		drop++
	}
	t.events = append(make([]Event, 0, tailMaxEvents), t.events[drop:]...)
}

func eventBytes(ev *Event) int {
	return 160 + len(ev.Stream) + len(ev.ID) + len(ev.Type) + len(ev.Data) + len(ev.Metadata)
}
