package storetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chronicle-go/chronicle"
)

var concurrencyTests = []test{
	{name: "ReadersWritersWatcher", run: testConcurrencyMixed},
	{name: "ExactlyOneWins", run: testConcurrencyOneWins},
	{name: "SameKeyedEvent", run: testConcurrencySameKey},
	{name: "ManyStreams", run: testConcurrencyManyStreams},
}

// testConcurrencyMixed: 5 writers, 5 readers and a watcher on one stream;
// the watcher sees every event exactly once, in version order, and readers
// always see a gapless prefix of the stream.
func testConcurrencyMixed(t *testing.T, s *chronicle.Store) {
	const writers, batches, batch, readers = 5, 20, 2, 5
	const total = writers * batches * batch
	w := startWatch(t, watchStream(s, "c", 0), nil)
	all := startWatch(t, watchAll(s, chronicle.Position{}), nil)
	w.waitCaughtUp(t)
	all.waitCaughtUp(t)

	ctx := testCtx(t)
	var writing, reading sync.WaitGroup
	stop := make(chan struct{})
	for i := range writers {
		writing.Go(func() {
			for j := range batches {
				evs := make([]chronicle.EventData, batch)
				for k := range evs {
					evs[k] = chronicle.EventData{Type: "W", Data: []byte(sprintf("%d:%d", i, j*batch+k))}
				}
				if _, err := s.Append(ctx, "c", chronicle.Any, evs...); err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		})
	}
	for i := range readers {
		reading.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var evs []chronicle.Event
				var err error
				if i%2 == 0 {
					evs, err = collect(s.Read(ctx, "c", 0, nil))
				} else {
					evs, err = collect(s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Filter: chronicle.Filter{chronicle.StreamIs("c")}}))
				}
				if err != nil {
					t.Errorf("reader %d: %v", i, err)
					return
				}
				for k, e := range evs {
					if e.Version != int64(k+1) {
						t.Errorf("reader %d: event %d has version %d", i, k, e.Version)
						return
					}
				}
			}
		})
	}
	within(t, "the writers", writing.Wait)
	close(stop)
	within(t, "the readers", reading.Wait)

	got := w.take(t, total)
	checkVersions(t, "watch", got, span(1, total))
	next := make([]int, writers) // each writer's events arrive in its order
	for _, e := range got {
		wi, seq, _ := strings.Cut(string(e.Data), ":")
		i, _ := strconv.Atoi(wi)
		n, _ := strconv.Atoi(seq)
		if n != next[i] {
			t.Fatalf("writer %d's event %d arrived when %d was due", i, n, next[i])
		}
		next[i]++
	}
	gotAll := all.take(t, total)
	for i := range got {
		if d := diffEvent(got[i], gotAll[i]); d != "" {
			t.Fatalf("WatchAll differs from Watch: %s", d)
		}
	}
	expectMarker(t, s, "c", w, all)
}

// testConcurrencyOneWins: of appends racing with the same expected version,
// exactly one succeeds; the others conflict and write nothing.
func testConcurrencyOneWins(t *testing.T, s *chronicle.Store) {
	const n = 20
	mustAppend(t, s, "race", chronicle.Any, events(3, "E", "pre")...)
	ctx := testCtx(t)
	start := make(chan struct{})
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			res, err := s.Append(ctx, "race", chronicle.Exactly(3), chronicle.EventData{Type: "Race", Data: []byte(strconv.Itoa(i))}, ev("Race"))
			var ce *chronicle.ConflictError
			switch {
			case err == nil:
				wins.Add(1)
				if res.Version != 5 || len(res.Positions) != 2 {
					t.Errorf("winner %d: %+v, want version 5", i, res)
				}
			case errors.As(err, &ce) && errors.Is(err, chronicle.ErrConflict):
				conflicts.Add(1)
				if ce.Actual != 5 || ce.Stream != "race" {
					t.Errorf("loser %d: conflict %+v, want actual 5", i, *ce)
				}
			default:
				t.Errorf("appender %d: %v", i, err)
			}
		})
	}
	close(start)
	within(t, "the racing appends", wg.Wait)
	if wins.Load() != 1 || conflicts.Load() != n-1 {
		t.Fatalf("%d wins and %d conflicts, want 1 and %d", wins.Load(), conflicts.Load(), n-1)
	}
	if info := streamInfo(t, s, "race"); info.Version != 5 {
		t.Fatalf("stream at version %d, want 5", info.Version)
	}
}

// testConcurrencySameKey: racing appends of one keyed event write it once,
// and all succeed, reporting the position of the one copy.
func testConcurrencySameKey(t *testing.T, s *chronicle.Store) {
	const n = 20
	ctx := testCtx(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	var wrote atomic.Int32
	positions := make([]chronicle.Position, n)
	for i := range n {
		wg.Go(func() {
			<-start
			res, err := s.Append(ctx, "key", chronicle.Any, keyed("once", "E"))
			if err != nil || res.Version != 1 || len(res.Positions) != 1 {
				t.Errorf("appender %d: %+v, %v; want version 1 and one position", i, res, err)
				return
			}
			wrote.Add(int32(res.Written))
			positions[i] = res.Positions[0]
		})
	}
	close(start)
	within(t, "the racing appends", wg.Wait)
	if wrote.Load() != 1 {
		t.Fatalf("%d appends reported writing the event, want 1", wrote.Load())
	}
	if info := streamInfo(t, s, "key"); info.Version != 1 {
		t.Fatalf("stream at version %d, want 1", info.Version)
	}
	stored := readStream(t, s, "key", 0, nil)[0].Position
	for i, p := range positions {
		if p != stored {
			t.Errorf("appender %d: position %v, want %v where the event is stored", i, p, stored)
		}
	}
}

// testConcurrencyManyStreams: concurrent writers on different streams keep
// the global order consistent; a global watch sees every event once.
func testConcurrencyManyStreams(t *testing.T, s *chronicle.Store) {
	const writers, appends = 8, 25
	w := startWatch(t, watchAll(s, chronicle.Position{}), nil)
	w.waitCaughtUp(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for j := range appends {
				if _, err := s.Append(ctx, sprintf("m%d", i), chronicle.Exactly(int64(j)), ev("E")); err != nil {
					t.Errorf("writer %d: %v", i, err)
					return
				}
			}
		})
	}
	within(t, "the writers", wg.Wait)
	got := w.take(t, writers*appends)
	want := readAll(t, s, chronicle.Position{}, nil)
	for i := range want {
		if d := diffEvent(want[i], got[i]); d != "" {
			t.Fatalf("event %d: %s", i, d)
		}
	}
	expectMarker(t, s, "m0", w)
}
