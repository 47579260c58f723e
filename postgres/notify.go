package postgres

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/internal/faillog"
	"github.com/jackc/pgx/v5"
)

// notifier tells other processes about this store's commits: after each
// commit (never inside the append's transaction) it sends
// pg_notify(channel, "xid store time") on the pool, at most one per
// notifyInterval and always one after the last commit. time is when the
// first commit it announces was acknowledged, in Unix nanoseconds, for the
// listeners' measure of the delay (earlier versions sent "xid store").
type notifier struct {
	xid    atomic.Uint64 // the newest committed xid to announce
	since  atomic.Int64  // when the first commit not yet announced was acknowledged (Unix ns); 0 when none
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
		var failing faillog.State
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.signal:
			}
			since := n.since.Swap(0)
			if x := n.xid.Load(); x != sent {
				payload := strconv.FormatUint(x, 10) + " " + b.id + " " + strconv.FormatInt(since, 10)
				_, err := b.pool.Exec(ctx, "SELECT pg_notify($1, $2)", b.channel, payload)
				switch {
				case err == nil:
					sent = x
					failing.OK(b.log, "chronicle postgres: notify works again")
				case ctx.Err() == nil:
					n.since.CompareAndSwap(0, since)
					// Try again after the interval: the commit is still
					// to be announced (other stores' polls find it anyway).
					failing.Failed(b.log, "chronicle postgres: notify failed; retrying", "err", interpret(err))
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
	n.since.CompareAndSwap(0, time.Now().UnixNano())
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
	var pending int64 // newest xid heard of that the frontier has not passed
	var frontier int64
	var frontierSince time.Time // when the frontier was first seen held at frontier
	var failing faillog.State
	check := func() {
		var x, xmax, tx, seq int64
		if err := b.read.QueryRow(ctx, b.sql.changes).Scan(&x, &xmax, &tx, &seq); err != nil {
			if ctx.Err() == nil {
				failing.Failed(b.log, "chronicle postgres: change check failed; retrying every poll interval", "err", interpret(err))
			}
			return
		}
		failing.OK(b.log, "chronicle postgres: change check works again")
		if h := b.hooks.Load(); h != nil && h.Frontier != nil {
			// The frontier holds something back when the snapshot's xmin
			// (a running transaction) is below its xmax (one past the
			// newest transaction that ended).
			now, held := time.Now(), x < xmax
			if x != frontier || !held {
				frontier, frontierSince = x, now
			}
			h.Frontier(chronicle.FrontierInfo{Frontier: uint64(x), Held: held, Age: now.Sub(frontierSince)})
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
	var failing faillog.State
	listening := func() {
		failing.OK(b.log, "chronicle postgres: LISTEN connection back")
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
		failing.Failed(b.log, "chronicle postgres: LISTEN connection lost; reconnecting", "err", interpret(err), "after", pause)
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
		xid, from, since := parsePayload(n.Payload)
		if from == b.id {
			continue // this store's own commit: its watchers were woken already
		}
		if h := b.hooks.Load(); h != nil && h.Notification != nil {
			delay := time.Duration(-1)
			if !since.IsZero() {
				delay = max(0, time.Since(since))
			}
			h.Notification(chronicle.NotificationInfo{Delay: delay})
		}
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

// parsePayload reads a notification: "xid store time", or "xid store" from
// earlier versions (since is then zero). Parts it cannot read are zero.
func parsePayload(p string) (xid uint64, from string, since time.Time) {
	x, rest, _ := strings.Cut(p, " ")
	from, t, _ := strings.Cut(rest, " ")
	xid, _ = strconv.ParseUint(x, 10, 64)
	if ns, err := strconv.ParseInt(t, 10, 64); err == nil && ns > 0 {
		since = time.Unix(0, ns)
	}
	return xid, from, since
}
