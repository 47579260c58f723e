package projection

import (
	"context"
	"sync"
)

// pipeGroup sends the pipelines of a runner's Exec projections that are
// ready at the same time as one: after a commit, every live projection has
// a batch to apply, and one transaction in one round trip for all of them
// costs the database one commit instead of one each. The first worker to
// arrive sends its pipeline at once; those that arrive meanwhile wait, and
// the first of them sends them all once the send in flight returns (so a
// lone projection never waits for company, and no worker sends for others
// more than once). Only small pipelines (a live batch) join a group: a
// batch of a projection catching up goes alone, so that it holds back no
// live one.
//
// When a group fails, nothing of it was applied, and its pipelines are
// sent again one by one, so that each projection gets its own outcome and
// none pays for another's error.
type pipeGroup struct {
	mu      sync.Mutex
	queue   []*pipeItem
	sending bool
}

// maxGroupStatements bounds the statements of a pipeline that joins a
// group.
const maxGroupStatements = 64

// pipeItem is one projection's pipeline.
type pipeItem struct {
	queries []string
	args    [][]any
	lead    chan struct{} // closed when this item's worker is to send the queue
	done    chan struct{} // closed when failed and err are set
	failed  int           // as ExecBatch reports it, for this item's queries
	err     error
}

// exec runs queries through pipe, in one transaction with whatever other
// pipelines are ready, and reports as [pipeliner.ExecBatch] does for
// queries alone.
func (g *pipeGroup) exec(ctx context.Context, pipe pipeliner, queries []string, args [][]any) (failed int, err error) {
	if len(queries) > maxGroupStatements {
		return pipe.ExecBatch(ctx, queries, args)
	}
	it := &pipeItem{queries: queries, args: args, lead: make(chan struct{}), done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, it)
	if g.sending {
		g.mu.Unlock()
		select {
		case <-it.done:
			return it.failed, it.err
		case <-it.lead: // send the queue, this item first
		}
		g.mu.Lock()
	}
	g.sending = true
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()
	send(ctx, pipe, batch)
	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.sending = false
	}
	g.mu.Unlock()
	return it.failed, it.err
}

// send runs batch as one transaction and answers its items; if that
// fails, it runs each item on its own.
func send(ctx context.Context, pipe pipeliner, batch []*pipeItem) {
	if len(batch) > 1 {
		var queries []string
		var args [][]any
		for _, it := range batch {
			queries = append(queries, it.queries...)
			args = append(args, it.args...)
		}
		if _, err := pipe.ExecBatch(ctx, queries, args); err == nil {
			for _, it := range batch {
				it.failed = len(it.queries)
				close(it.done)
			}
			return
		}
	}
	for _, it := range batch {
		it.failed, it.err = pipe.ExecBatch(ctx, it.queries, it.args)
		close(it.done)
	}
}
