package postgres

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifier tells other processes about this store's commits: after each
// commit (never inside the append's transaction) it sends
// pg_notify(channel, "xid store") on the pool, at most one per
// notifyInterval and
// always one after the last commit.
type notifier struct {
	xid    atomic.Uint64 // the newest committed xid to announce
	signal chan struct{} // cap 1: something to announce
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *notifier) start(b *Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	n.signal = make(chan struct{}, 1)
	n.cancel = cancel
	n.done = make(chan struct{})
	go func() {
		defer close(n.done)
		var sent uint64
		failing := false // logged once per run of failures
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.signal:
			}
			if x := n.xid.Load(); x != sent {
				payload := strconv.FormatUint(x, 10) + " " + b.id
				_, err := b.pool.Exec(ctx, "SELECT pg_notify($1, $2)", b.channel, payload)
				switch {
				case err == nil:
					sent = x
					failing = false
				case ctx.Err() == nil:
					// Try again after the interval: the commit is still
					// to be announced (other stores' polls find it anyway).
					if !failing {
						b.log.Warn("chronicle postgres: notify failed; retrying", "err", interpret(err))
						failing = true
					}
					n.wake()
				}
			}
			t := time.NewTimer(notifyInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
}

// signalXid records a commit of xid for the next notification.
func (n *notifier) signalXid(xid uint64) {
	raise(&n.xid, xid)
	n.wake()
}

// wake makes the notifier look for something to announce.
func (n *notifier) wake() {
	select {
	case n.signal <- struct{}{}:
	default:
	}
}

func (n *notifier) stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
}

// WatchChanges implements [chronicle.Backend.WatchChanges]. One LISTEN
// connection (unless Options.DisableListen) hears other processes'
// commits; every PollInterval, and quickly after a notification whose
// events the frontier still held back, one query reads the newest event
// below the frontier and calls changed when it moved. So events held back
// by a running transaction are delivered soon after it ends, and nothing
// depends on a notification arriving.
func (b *Backend) WatchChanges(ctx context.Context, changed func()) {
	heard := make(chan uint64, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	if b.listen != nil {
		wg.Go(func() { b.listenLoop(ctx, heard, changed) })
	}
	var last [2]int64
	var pending int64    // newest xid heard of that the frontier has not passed
	var failed time.Time // when the change checks began to fail; zero while they succeed
	check := func() {
		var x, tx, seq int64
		if err := b.read.QueryRow(ctx, b.sql.head).Scan(&x, &tx, &seq); err != nil {
			// Logged once per outage, not once per poll.
			if ctx.Err() == nil && failed.IsZero() {
				failed = time.Now()
				b.log.Warn("chronicle postgres: change check failed; retrying every poll interval", "err", interpret(err))
			}
			return
		}
		if !failed.IsZero() {
			b.log.Info("chronicle postgres: change check succeeded again", "after", time.Since(failed).Round(time.Millisecond))
			failed = time.Time{}
		}
		if head := [2]int64{tx, seq}; head != last {
			last = head
			changed()
		}
		if pending < x {
			pending = 0
		}
	}
	check()
	fast := time.Millisecond
	t := time.NewTimer(b.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case xid := <-heard:
			pending = max(pending, int64(xid))
			changed()
		case <-t.C:
		}
		check()
		next := b.opts.PollInterval
		if pending > 0 {
			next, fast = min(fast, next), min(2*fast, next)
		} else {
			fast = time.Millisecond
		}
		t.Reset(next)
	}
}

// listenLoop holds the LISTEN connection until ctx ends, reconnecting
// after failures, and passes on the xids it hears. After each (re)connect
// it calls changed, since notifications sent meanwhile were lost.
func (b *Backend) listenLoop(ctx context.Context, heard chan uint64, changed func()) {
	pause := 100 * time.Millisecond
	var lost time.Time // when the connection was lost; zero while listening
	listening := func() {
		if !lost.IsZero() {
			b.log.Info("chronicle postgres: LISTEN connection back", "after", time.Since(lost).Round(time.Millisecond))
			lost = time.Time{}
		}
		changed()
	}
	for ctx.Err() == nil {
		listened, err := b.listenOnce(ctx, heard, listening)
		if ctx.Err() != nil {
			return
		}
		if listened {
			pause = 100 * time.Millisecond
		}
		// Logged once per outage, not once per attempt.
		if lost.IsZero() {
			lost = time.Now()
			b.log.Warn("chronicle postgres: LISTEN connection lost; reconnecting", "err", interpret(err))
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// listenOnce connects, listens and passes on what it hears until the
// connection fails; listened reports whether it got as far as listening,
// when it calls listening.
func (b *Backend) listenOnce(ctx context.Context, heard chan uint64, listening func()) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, b.listen)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{b.channel}.Sanitize()); err != nil {
		return false, err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		x, from, _ := strings.Cut(n.Payload, " ")
		if from == b.id {
			continue // this store's own commit: its watchers were woken already
		}
		xid, _ := strconv.ParseUint(x, 10, 64)
		select {
		case heard <- xid:
		default:
			// One is waiting already; keep the newer.
			select {
			case old := <-heard:
				xid = max(xid, old)
			default:
			}
			select {
			case heard <- xid:
			default:
			}
		}
	}
}
