package projection

import (
	"context"
	"sync"

	"github.com/chronicle-go/chronicle"
)

// liveReads shares reads of the global stream among a runner's live
// workers. After a commit every live worker reads from the same position
// (each one's checkpoint is the head it examined last, whatever its
// filter), so the first to ask reads one page, unfiltered, and the others
// take it and filter it in Go: one query per commit instead of one per
// projection.
//
// A page is shared only among workers that took the same channel from
// Store.Notify before asking: the page was read after that channel was
// taken, so it holds every commit announced before it, and a commit after
// it closes the channel, which wakes them all. A worker that took a newer
// channel reads a new page.
type liveReads struct {
	mu  sync.Mutex
	cur *liveRead
}

// liveRead is one shared read: the page after from, read after wake was
// taken.
type liveRead struct {
	wake <-chan struct{}
	from chronicle.Position
	done chan struct{} // closed once page and err are set
	page chronicle.Page
	err  error
}

// page returns the page after from for a worker that took wake from
// Store.Notify, with the events that pass filter, in a slice of the
// worker's own.
func (l *liveReads) page(ctx context.Context, s *chronicle.Store, from chronicle.Position, limit int,
	filter chronicle.Filter, wake <-chan struct{}) (chronicle.Page, error) {
	l.mu.Lock()
	r := l.cur
	if r == nil || r.wake != wake || r.from != from {
		r = &liveRead{wake: wake, from: from, done: make(chan struct{})}
		l.cur = r
		l.mu.Unlock()
		r.page, r.err = s.ReadAllPage(ctx, from, limit, nil)
		close(r.done)
		if r.err != nil {
			l.mu.Lock()
			if l.cur == r {
				l.cur = nil // the next caller reads again
			}
			l.mu.Unlock()
		}
	} else {
		l.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return chronicle.Page{}, ctx.Err()
		}
	}
	if r.err != nil {
		return chronicle.Page{}, r.err
	}
	p := r.page
	p.Events = make([]chronicle.Event, 0, len(r.page.Events))
	for i := range r.page.Events {
		if filter.Match(&r.page.Events[i]) {
			p.Events = append(p.Events, r.page.Events[i])
		}
	}
	return p, nil
}
