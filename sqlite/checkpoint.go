package sqlite

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle"
)

// WAL checkpoints
//
// In WAL mode every commit appends pages to the -wal file, and a checkpoint
// copies them back into the database file so that the WAL can start over
// from its beginning. SQLite runs a checkpoint inside the commit that takes
// the WAL past 1,000 pages, which stalls that commit (and, with group
// commit, every write of its group) for milliseconds: the checkpoint copies
// a thousand pages and syncs both files. The store turns those automatic
// checkpoints off on its connections that write (the writer and those of
// Backend.DB), which only note the WAL's size after each commit; every
// checkpointPages new pages they wake a goroutine that checkpoints on a
// connection of its own:
//
//  1. a PASSIVE checkpoint, which waits for no reader and no writer, copies
//     what the WAL holds while commits go on;
//  2. the WAL can start over only once a checkpoint has copied all of it, and
//     a busy writer adds pages faster than a checkpoint syncs, so the
//     goroutine then holds this process's writes (appends and Backend.DB's
//     write transactions) for one more checkpoint that copies the few
//     pages committed meanwhile: a stall of two small syncs instead of a
//     whole checkpoint. The next write starts the WAL over.
//
// A checkpoint cannot copy pages that a reader still needs (one that began
// before they were committed and has not finished), so the WAL grows for as
// long as a read is that old, as with SQLite's own checkpoints, and another
// process writing to the file may keep it from starting over. A commit that
// finds the WAL at walPagesLimit pages checkpoints in its own connection
// (once the goroutine's checkpoint in progress has ended), as SQLite would,
// so that the WAL stays bounded whatever the goroutine does. Holding writes
// holds the store's appends and Backend.DB's transactions; a statement that
// Backend.DB runs outside a transaction is not held, so that many of them at
// once from several goroutines can keep the WAL from starting over, as with
// SQLite's own checkpoints.

const (
	// checkpointPages is how many new WAL pages start a background
	// checkpoint: SQLite's own threshold for its automatic ones.
	checkpointPages = 1000
	// walPagesLimit is the WAL size at which a commit checkpoints in its
	// own connection.
	walPagesLimit = 4 * checkpointPages
	// finishPages is how many pages at most are left for the checkpoint
	// that holds writes, when commits keep up with the goroutine's.
	finishPages = checkpointPages / 10
	// finishWait bounds how long the checkpointer waits for Backend.DB's
	// write transaction in progress before it holds writes; past it, the
	// WAL starts over after a later checkpoint.
	finishWait = 50 * time.Millisecond
)

// checkpointer runs WAL checkpoints in the background, on its own
// connection. Its goroutine is started by startCheckpointer and ended by
// close.
type checkpointer struct {
	c        *conn
	pageSize int64         // the database's page size, in bytes
	mu       sync.Mutex    // held while a checkpoint of this process runs
	next     atomic.Int64  // the WAL size in pages that wakes the goroutine
	pages    atomic.Int64  // the WAL size after the last commit noted
	restarts atomic.Int64  // how often the WAL was seen to start over
	wakeCh   chan struct{} // a checkpoint is due (capacity 1)
	stop     chan struct{}
	done     chan struct{} // closed when the goroutine has ended

	runs   atomic.Int64 // checkpoints run by the goroutine
	held   atomic.Int64 // of which held writes to finish
	inline atomic.Int64 // checkpoints run by commits at walPagesLimit
}

// startCheckpointer opens the checkpointer's connection and starts it.
func (b *Backend) startCheckpointer(ctx context.Context) error {
	c, err := b.connect(ctx, b.uri, openReadWrite)
	if err != nil {
		return err
	}
	// A connection that has not read the database yet does not know that
	// it is in WAL mode, and its checkpoints would do nothing.
	var n, pageSize int64
	_, err = c.row("SELECT count(*) FROM sqlite_schema", []*int64{&n})
	if err == nil {
		_, err = c.row("PRAGMA page_size", []*int64{&pageSize})
	}
	if err != nil {
		_ = c.close()
		return fmt.Errorf("sqlite: checkpointer: %w", interpret(ctx, err))
	}
	k := &checkpointer{c: c, pageSize: pageSize, wakeCh: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	k.next.Store(checkpointPages)
	b.ckpt = k
	go b.checkpointLoop(k)
	return nil
}

func (b *Backend) checkpointLoop(k *checkpointer) {
	defer close(k.done)
	for {
		select {
		case <-k.stop:
			return
		case <-k.wakeCh:
		}
		if k.pages.Load() < k.next.Load() {
			continue // asked for while the last checkpoint ran
		}
		k.runs.Add(1)
		start := time.Now()
		restarts := k.restarts.Load()
		log, copied, busy, err := k.checkpoint(k.c)
		// Commits went on meanwhile: copy theirs, without holding writes
		// while they are many.
		for round := 0; err == nil && !busy && copied == log && k.pages.Load()-log > finishPages && round < 3; round++ {
			log, copied, busy, err = k.checkpoint(k.c)
		}
		// Then hold writes to copy the rest, unless it is still large and
		// the WAL is not (the next checkpoint comes soon), or a reader
		// keeps the checkpoint from copying everything anyway.
		held := false
		var heldFor time.Duration
		if rest := k.pages.Load() - log; err == nil && !busy && copied == log && rest > 0 && (rest <= 2*finishPages || log >= walPagesLimit/2) {
			if release, ok := b.holdWrites(k.stop); ok {
				k.held.Add(1)
				holdStart := time.Now()
				log, copied, busy, err = k.checkpoint(k.c)
				if !busy {
					k.setNext(restarts, log, checkpointPages) // before a write starts the WAL over
				}
				release()
				heldFor = time.Since(holdStart)
				held = !busy
			}
		}
		if h := b.hooks.Load(); h != nil && h.Checkpoint != nil {
			h.Checkpoint(chronicle.CheckpointInfo{HeldWrites: held, Held: heldFor, WALPages: log, Copied: copied,
				Busy: busy, Duration: time.Since(start), Err: err})
		}
		if busy {
			// Another connection is checkpointing (another process's):
			// try again once the WAL has grown as much again.
			log = k.pages.Load()
		}
		if err != nil {
			b.log.Warn("chronicle sqlite: WAL checkpoint failed", "path", b.path, "err", err)
		}
		if !held {
			k.setNext(restarts, log, finishPages)
		}
	}
}

// setNext sets the WAL size at which the next checkpoint is due: log, the
// size the last one saw, plus checkpointPages. The WAL starts over at the
// next write, unless a reader keeps it from doing so; committed notices
// when it starts over (it counts restarts) and makes the next checkpoint due
// at checkpointPages, which setNext must not undo.
func (k *checkpointer) setNext(restarts, log, more int64) {
	if k.restarts.Load() == restarts {
		k.next.Store(max(log, 0) + more)
	}
}

// holdWrites waits for this process's write in progress to end and holds
// the next ones until release is called: Backend.DB's write transactions,
// then the store's writer, for up to finishWait in all. ok is false when it
// did not get them in time, or stop was closed.
func (b *Backend) holdWrites(stop <-chan struct{}) (release func(), ok bool) {
	t := time.NewTimer(finishWait)
	defer t.Stop()
	select {
	case b.sqlTurn <- struct{}{}:
	case <-t.C:
		return nil, false
	case <-stop:
		return nil, false
	}
	for !b.wmu.TryLock() {
		// The writer's group may wait for another process's lock: wait
		// no longer than for the turn.
		select {
		case <-t.C:
			<-b.sqlTurn
			return nil, false
		case <-stop:
			<-b.sqlTurn
			return nil, false
		case <-time.After(50 * time.Microsecond):
		}
	}
	return func() {
		b.wmu.Unlock()
		<-b.sqlTurn
	}, true
}

// wake asks for a checkpoint; it never blocks.
func (k *checkpointer) wake() {
	select {
	case k.wakeCh <- struct{}{}:
	default: // one is due already
	}
}

// close ends the goroutine and closes the connection. The checkpoint in
// progress, if any, finishes first.
func (k *checkpointer) close() error {
	close(k.stop)
	<-k.done
	return k.c.close()
}

// checkpoint runs a checkpoint on c once the process's checkpoint in
// progress, if any, has ended: two at once would make the second copy
// nothing.
func (k *checkpointer) checkpoint(c *conn) (log, copied int64, busy bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return checkpoint(c)
}

// checkpoint runs a PASSIVE checkpoint on c and returns the WAL's size and
// how much of it the database file now holds, in pages. busy reports that
// another connection (of this process or another) was running a checkpoint
// already: then this one copied nothing.
func checkpoint(c *conn) (log, copied int64, busy bool, err error) {
	var b int64
	_, err = c.row("PRAGMA wal_checkpoint(PASSIVE)", []*int64{&b, &log, &copied})
	if errCode(err) == codeBusy || err == nil && (b != 0 || log < 0) {
		return 0, 0, true, nil
	}
	return log, copied, false, err
}

// committed is called after a commit, or a statement that may have
// committed, on c, a connection whose WAL hook is set and that no context
// interrupts. It wakes the checkpointer when the WAL has grown by
// checkpointPages since its last checkpoint, and checkpoints in c itself at
// walPagesLimit.
func (b *Backend) committed(c *conn) {
	k := b.ckpt
	if k == nil {
		return
	}
	n := int64(c.c.WALPages())
	if n == 0 {
		return // no commit
	}
	if n < k.pages.Swap(n) {
		// The WAL started over.
		k.restarts.Add(1)
		k.next.Store(checkpointPages)
	}
	h := b.hooks.Load()
	if h != nil && h.WALSize != nil {
		h.WALSize(chronicle.WALInfo{Pages: n, Bytes: n * k.pageSize})
	}
	switch {
	case n >= walPagesLimit:
		k.inline.Add(1)
		start := time.Now()
		log, copied, busy, err := k.checkpoint(c)
		if err != nil {
			b.log.Warn("chronicle sqlite: WAL checkpoint failed", "path", b.path, "err", err)
		}
		if h != nil && h.Checkpoint != nil {
			d := time.Since(start)
			h.Checkpoint(chronicle.CheckpointInfo{Inline: true, Held: d, WALPages: log, Copied: copied,
				Busy: busy, Duration: d, Err: err})
		}
	case n >= k.next.Load():
		k.wake()
	}
}
