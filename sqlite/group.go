package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle"
)

// Group commit
//
// Every write (appends and snapshots) is a writeReq handed to one writer
// goroutine, which runs groups on the writer connection (a write that finds
// the writer idle and nothing queued runs at once in its caller instead). The goroutine takes the first
// request it finds, drains whatever else is queued at that moment (it never
// waits for more, so a lone writer pays no delay), runs the whole group in one
// BEGIN IMMEDIATE … COMMIT, and answers each caller after the commit. Each
// request of a group runs in a savepoint of its own, so one request's
// conflict or bad input rolls back that request alone. Watchers are woken
// once per group.
//
// Consecutive appends of a group run together (batch.go): one look-up of
// their streams' versions, one of their event IDs, INSERTs of up to 100
// of their events each and one update of their streams' rows, instead of a
// savepoint and four statements each. Should any of those statements fail, the group runs
// again from the start with every request in a savepoint of its own, which
// gives each its own outcome.

// Request states. A caller whose context ends may withdraw its request while
// it is queued or taken but not yet started; once started, the caller waits
// for the outcome, which is then definite: written and committed, or not.
const (
	reqQueued int32 = iota
	reqTaken
	reqRunning
	reqWithdrawn
)

var (
	_ chronicle.CommitNotifier  = (*Backend)(nil)
	_ chronicle.HookedBackend   = (*Backend)(nil)
	_ chronicle.PositionCounter = (*Backend)(nil)
)

type writeReq struct {
	ctx    context.Context
	events bool // a commit of this request wakes watchers
	fn     func(w *conn) (wrote int, err error)
	app    *appendJob // an append, which may run in a batch; else nil
	state  atomic.Int32

	wrote int           // set by the writer before done closes
	err   error         // likewise
	done  chan struct{} // closed when the request is answered
}

// SetCommitHook implements [chronicle.CommitNotifier]: f is called once
// after each committed group that wrote something, before its callers are
// answered.
func (b *Backend) SetCommitHook(f func()) { b.onCommit = f }

// Describe implements [chronicle.HookedBackend].
func (b *Backend) Describe() chronicle.StoreInfo {
	return chronicle.StoreInfo{System: "sqlite", Namespace: b.path}
}

// SetHooks implements [chronicle.HookedBackend]: h receives the group
// commits, the WAL checkpoints and the WAL's size.
func (b *Backend) SetHooks(h *chronicle.Hooks) { b.hooks.Store(h) }

// EventsBetween implements [chronicle.PositionCounter]: positions are a
// sequence, one per event.
func (b *Backend) EventsBetween(from, to chronicle.Position) int64 {
	return int64(to.Commit) - int64(from.Commit)
}

// write runs fn in the writer goroutine inside a write transaction, together
// with any other writes queued at the same time. fn reports how much it
// wrote: the events of an append, 1 for a snapshot stored, 0 when nothing;
// events says whether what it writes are events, whose commit wakes
// watchers. If ctx ends before fn starts, the request is withdrawn and
// nothing is written; once fn has started, write waits for the commit and
// reports its outcome.
func (b *Backend) write(ctx context.Context, events bool, fn func(w *conn) (wrote int, err error)) error {
	return b.submit(ctx, &writeReq{ctx: ctx, events: events, fn: fn})
}

// submit hands r, whose ctx, events and fn are set, to the writer and waits
// for its outcome, as write describes.
func (b *Backend) submit(ctx context.Context, r *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan struct{})
	// A lone write runs in the caller's goroutine when the writer is idle
	// and nothing is queued, sparing two goroutine hand-offs.
	if b.wmu.TryLock() {
		if len(b.queue) == 0 {
			b.runGroup([]*writeReq{r}, true)
			b.wmu.Unlock()
			return r.err
		}
		b.wmu.Unlock()
	}
	select {
	case b.queue <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqWithdrawn) || r.state.CompareAndSwap(reqTaken, reqWithdrawn) {
			return ctx.Err() // never started: nothing written
		}
		<-r.done
		return r.err
	}
}

func (b *Backend) writeLoop() {
	defer close(b.stopped)
	maxGroup := b.opts.MaxGroup
	group := make([]*writeReq, 0, maxGroup)
	for {
		select {
		case <-b.stop:
			return
		case r := <-b.queue:
			group = append(group[:0], r)
		}
		// Wait for a write running in its caller, and group whatever
		// queued meanwhile.
		b.wmu.Lock()
	drain:
		for len(group) < maxGroup {
			select {
			case r := <-b.queue:
				group = append(group, r)
			default:
				break drain
			}
		}
		b.runGroup(group, true)
		b.wmu.Unlock()
		clear(group)
	}
}

// runGroup runs the requests of group in one transaction and answers them;
// batch says whether consecutive appends may run as one batch.
func (b *Backend) runGroup(group []*writeReq, batch bool) {
	live := group[:0:0]
	for _, r := range group {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	hooks := b.hooks.Load()
	var start time.Time
	if hooks != nil && hooks.GroupCommit != nil {
		start = time.Now()
	}
	w := b.writer
	answer := func(rs []*writeReq, err error) {
		for _, r := range rs {
			if r.err == nil {
				r.err = err
			}
			close(r.done)
		}
	}
	if err := b.checkFile(); err != nil {
		answer(live, err)
		return
	}
	if err := w.exec("BEGIN IMMEDIATE"); err != nil {
		answer(live, interpret(context.Background(), err))
		return
	}
	single := len(live) == 1
	var done []*writeReq // requests that ran, in order
	anyChanged, wroteEvents := false, false
	for i := 0; i < len(live); i++ {
		if run := appendRun(live[i:]); batch && len(run) > 1 {
			i += len(run) - 1
			var rs []*writeReq // the run's requests that go ahead
			for _, r := range run {
				if !r.state.CompareAndSwap(reqTaken, reqRunning) {
					continue // withdrawn by its caller
				}
				done = append(done, r)
				if err := r.ctx.Err(); err != nil {
					r.err = err
					continue
				}
				rs = append(rs, r)
			}
			if err := b.appendBatch(w, rs); err != nil {
				b.batchReruns.Add(1)
				// Every request of the group runs again, each in a
				// savepoint of its own, in a new transaction.
				if !w.c.GetAutocommit() {
					_ = w.exec("ROLLBACK")
				}
				b.runGroup(requeue(live, nil), false)
				return
			}
			for _, r := range rs {
				if r.err == nil && r.wrote > 0 {
					anyChanged, wroteEvents = true, true
				}
			}
			continue
		}
		r := live[i]
		if !r.state.CompareAndSwap(reqTaken, reqRunning) {
			continue // withdrawn by its caller
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			done = append(done, r)
			continue
		}
		if !single {
			if err := w.exec("SAVEPOINT request"); err != nil {
				r.err = interpret(r.ctx, err)
				done = append(done, r)
				continue
			}
		}
		if single {
			// Only a lone request may be interrupted by its context: an
			// interrupted write rolls back the whole transaction.
			w.c.SetInterrupt(r.ctx)
		}
		wrote, err := r.fn(w)
		w.c.SetInterrupt(context.Background())
		if w.c.GetAutocommit() {
			// The statement ended the whole transaction (an interrupt,
			// INSERT OR ROLLBACK on a constraint, disk full, an I/O
			// error). This request fails; every other request of the
			// group runs again in a new transaction, as if it had been
			// queued after it.
			if err == nil {
				err = errors.New("transaction ended unexpectedly")
			}
			r.err = interpret(r.ctx, err)
			close(r.done)
			if again := requeue(live, r); len(again) > 0 {
				b.runGroup(again, batch)
			}
			return
		}
		if err != nil {
			r.err = interpret(r.ctx, err)
			if !single {
				_ = w.exec("ROLLBACK TO request")
				_ = w.exec("RELEASE request")
			}
		} else {
			r.wrote = wrote
			anyChanged = anyChanged || wrote > 0
			wroteEvents = wroteEvents || wrote > 0 && r.events
			if !single {
				if err := w.exec("RELEASE request"); err != nil {
					r.err = interpret(r.ctx, err)
				}
			}
		}
		done = append(done, r)
	}
	var err error
	if anyChanged {
		err = w.exec("COMMIT")
	}
	if !w.c.GetAutocommit() {
		if rerr := w.exec("ROLLBACK"); rerr != nil && err == nil {
			err = rerr
		}
	}
	if err != nil {
		err = fmt.Errorf("commit: %w", interpret(context.Background(), err))
		for _, r := range done {
			if r.err == nil {
				r.err = err
			}
		}
	} else if anyChanged {
		b.groups.Add(1)
		b.groupedReqs.Add(int64(len(done)))
		if wroteEvents && b.onCommit != nil {
			b.onCommit()
		}
	}
	if anyChanged {
		if !start.IsZero() {
			hooks.GroupCommit(groupInfo(done, time.Since(start), err))
		}
		b.committed(w) // before the answers: Close may follow them
	}
	answer(done, nil)
}

// requeue returns the requests of live, but for failed, that are to run
// again in a new transaction (all those not withdrawn by their callers),
// with their outcomes cleared.
func requeue(live []*writeReq, failed *writeReq) []*writeReq {
	var again []*writeReq
	for _, q := range live {
		switch {
		case q == failed:
		case q.state.CompareAndSwap(reqRunning, reqQueued), q.state.CompareAndSwap(reqTaken, reqQueued):
			q.err, q.wrote = nil, 0
			again = append(again, q)
		}
	}
	return again
}

// groupInfo describes a group that ran done's requests, for the hooks.
func groupInfo(done []*writeReq, d time.Duration, err error) chronicle.GroupCommitInfo {
	info := chronicle.GroupCommitInfo{Writes: len(done), Duration: d, Err: err}
	for _, r := range done {
		if r.events && r.err == nil && r.wrote > 0 {
			info.Appends++
			info.Events += r.wrote
		}
	}
	return info
}
