package projection

import (
	"context"
	"sync"
)

// pipeGroup sends the pipelines of a runner's Exec projections that are
// ready at the same time as one: after a commit, every live projection has
// a batch to apply, and one transaction in one round trip for all of them
// costs the database one commit instead of one each. The first worker to
// arrive sends its pipeline at once; those that arrive meanwhile are sent
// together when it returns, by the same worker (so a lone projection never
// waits for company).
//
// The group is one transaction: when a statement of one projection fails,
// nothing of the group is applied; that projection gets its error and the
// others are sent again without it. When the commit itself fails (a lost
// connection), every projection of the group gets the error, and its
// checkpoint statement tells on the next attempt whether it was applied.
type pipeGroup struct {
	mu      sync.Mutex
	queue   []*pipeItem
	sending bool
}

// pipeItem is one projection's pipeline: its statements, the last of which
// moves its checkpoint.
type pipeItem struct {
	queries []string
	args    [][]any
	done    chan struct{} // closed when failed and err are set
	failed  int           // as ExecBatch reports it, for this item's queries
	err     error
}

// exec runs queries through pipe, in one transaction with whatever other
// pipelines are ready, and reports as [pipeliner.ExecBatch] does for
// queries alone.
func (g *pipeGroup) exec(ctx context.Context, pipe pipeliner, queries []string, args [][]any) (failed int, err error) {
	it := &pipeItem{queries: queries, args: args, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, it)
	if g.sending {
		g.mu.Unlock()
		<-it.done
		return it.failed, it.err
	}
	g.sending = true
	for {
		batch := g.queue
		g.queue = nil
		g.mu.Unlock()
		send(ctx, pipe, batch)
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.sending = false
			g.mu.Unlock()
			break
		}
	}
	return it.failed, it.err
}

// send runs batch as one transaction and answers its items.
func send(ctx context.Context, pipe pipeliner, batch []*pipeItem) {
	for len(batch) > 0 {
		if len(batch) == 1 {
			it := batch[0]
			it.failed, it.err = pipe.ExecBatch(ctx, it.queries, it.args)
			close(it.done)
			return
		}
		var queries []string
		var args [][]any
		for _, it := range batch {
			queries = append(queries, it.queries...)
			args = append(args, it.args...)
		}
		failed, err := pipe.ExecBatch(ctx, queries, args)
		if err == nil || failed >= len(queries) {
			// All applied, or the commit failed for all alike.
			for _, it := range batch {
				it.failed, it.err = len(it.queries), err
				close(it.done)
			}
			return
		}
		// One item's statement failed: it gets the error; nothing was
		// applied, so the others go again without it.
		off := 0
		for i, it := range batch {
			if failed < off+len(it.queries) {
				it.failed, it.err = failed-off, err
				close(it.done)
				batch = append(batch[:i:i], batch[i+1:]...)
				break
			}
			off += len(it.queries)
		}
	}
}
