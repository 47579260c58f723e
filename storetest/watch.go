package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/chronicle-go/chronicle"
)

var watchTests = []test{
	{name: "HistoryThenLive", run: testWatchHistoryThenLive},
	{name: "FromEnd", run: testWatchFromEnd},
	{name: "FromBeyondEnd", run: testWatchFromBeyond},
	{name: "Cancel", run: testWatchCancel},
	{name: "HandOff", run: testWatchHandOff},
	{name: "AllFromZero", run: testWatchAllFromZero},
	{name: "AllFromEndPosition", run: testWatchAllEndPosition},
	{name: "AllResume", run: testWatchAllResume},
	{name: "Watchers", run: testWatchWatchers},
	{name: "SlowConsumer", run: testWatchSlowConsumer},
}

// testWatchHistoryThenLive: a watch delivers the history, calls CaughtUp
// once, then delivers new events as they commit, without gaps or repeats.
func testWatchHistoryThenLive(t *testing.T, s *chronicle.Store) {
	for _, from := range []int64{0, 2} {
		stream := sprintf("h%d", from)
		mustAppend(t, s, stream, chronicle.Any, events(3, "E", "h")...)
		mustAppend(t, s, "other", chronicle.Any, ev("Noise"))
		w := startWatch(t, watchStream(s, stream, from), nil)
		w.waitCaughtUp(t)
		if w.beforeCaught != int(3-from) {
			t.Fatalf("from %d: CaughtUp after %d events, want after %d", from, w.beforeCaught, 3-from)
		}
		checkVersions(t, sprintf("history from %d", from), w.take(t, int(3-from)), span(from+1, 3))
		mustAppend(t, s, stream, chronicle.Any, ev("Live"))
		mustAppend(t, s, "other", chronicle.Any, ev("Live"))
		mustAppend(t, s, stream, chronicle.Any, ev("Live"), ev("Live"))
		checkVersions(t, sprintf("live from %d", from), w.take(t, 3), span(4, 6))
		expectMarker(t, s, stream, w)
		if n := w.caughtCalls.Load(); n != 1 {
			t.Fatalf("from %d: CaughtUp called %d times, want once", from, n)
		}
		if err := w.stop(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("from %d: stopped watch ended with %v, want context.Canceled", from, err)
		}
	}
}

// testWatchFromEnd: FromEnd delivers only events appended after the watch
// started, also on a stream that does not exist yet.
func testWatchFromEnd(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "e", chronicle.Any, events(3, "Old", "old")...)
	w := startWatch(t, watchStream(s, "e", chronicle.FromEnd), nil)
	fresh := startWatch(t, watchStream(s, "new", chronicle.FromEnd), nil)
	w.waitCaughtUp(t)
	fresh.waitCaughtUp(t)
	if w.beforeCaught != 0 || fresh.beforeCaught != 0 {
		t.Fatalf("FromEnd delivered %d and %d events of history", w.beforeCaught, fresh.beforeCaught)
	}
	mustAppend(t, s, "e", chronicle.Any, ev("New"), ev("New"))
	mustAppend(t, s, "new", chronicle.Any, ev("New"))
	checkVersions(t, "FromEnd", w.take(t, 2), span(4, 5))
	checkVersions(t, "FromEnd on a new stream", fresh.take(t, 1), []int64{1})
	expectMarker(t, s, "e", w)
	expectMarker(t, s, "new", fresh)
}

// testWatchFromBeyond: a watch from a version the stream has not reached
// waits for it.
func testWatchFromBeyond(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "b", chronicle.Any, events(3, "E", "b")...)
	w := startWatch(t, watchStream(s, "b", 5), nil)
	w.waitCaughtUp(t)
	mustAppend(t, s, "b", chronicle.Any, events(4, "E", "c")...)
	checkVersions(t, "from 5", w.take(t, 2), span(6, 7))
	expectMarker(t, s, "b", w)
}

// testWatchCancel: cancelling the context ends a watch promptly with an
// error matching context.Canceled, whether it is waiting or not started.
func testWatchCancel(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "c", chronicle.Any, events(2, "E", "c")...)
	for name, f := range map[string]watchFunc{
		"Watch":         watchStream(s, "c", 0),
		"WatchFromEnd":  watchStream(s, "c", chronicle.FromEnd),
		"WatchAll":      watchAll(s, chronicle.Position{}),
		"WatchAllAtEnd": watchAll(s, chronicle.EndPosition()),
	} {
		w := startWatch(t, f, nil)
		w.waitCaughtUp(t)
		if err := w.stop(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: cancelled watch ended with %v, want context.Canceled", name, err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var errs []error
		within(t, name+" with a cancelled context", func() {
			for _, err := range f(ctx, &chronicle.WatchOptions{}) {
				if err != nil {
					errs = append(errs, err)
				}
			}
		})
		if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Fatalf("%s with a cancelled context: errors %v, want one context.Canceled", name, errs)
		}
	}
}

// testWatchHandOff: events appended while a watch replays a long history
// are delivered exactly once, in order, across the switch to live.
func testWatchHandOff(t *testing.T, s *chronicle.Store) {
	const history, live, batch = 1300, 300, 3
	fill(t, s, "h", history, 100)
	fill(t, s, "o", 100, 100)

	one := startWatch(t, watchStream(s, "h", 0), nil)
	all := startWatch(t, watchAll(s, chronicle.Position{}), nil)
	writer := async(t, func(ctx context.Context) error {
		for i := 0; i < live; i += batch {
			if _, err := s.Append(ctx, "h", chronicle.Any, events(batch, "Live", "live")...); err != nil {
				return err
			}
			if _, err := s.Append(ctx, "o", chronicle.Any, ev("Live")); err != nil {
				return err
			}
		}
		return nil
	})
	checkVersions(t, "Watch", one.take(t, history+live), span(1, history+live))
	got := all.take(t, history+100+live+live/batch)
	if err := wait(t, "the writer", writer); err != nil {
		t.Fatalf("concurrent Append: %v", err)
	}
	want := readAll(t, s, chronicle.Position{}, nil)
	if len(want) != len(got) {
		t.Fatalf("WatchAll delivered %d events, the store holds %d", len(got), len(want))
	}
	for i := range want {
		if d := diffEvent(want[i], got[i]); d != "" {
			t.Fatalf("WatchAll event %d: %s", i, d)
		}
	}
	expectMarker(t, s, "h", one, all)
}

// testWatchAllFromZero: WatchAll from the zero Position delivers every
// event, then new ones, in commit order.
func testWatchAllFromZero(t *testing.T, s *chronicle.Store) {
	for i := range 6 {
		mustAppend(t, s, sprintf("z%d", i%2), chronicle.Any, ev("Old"))
	}
	w := startWatch(t, watchAll(s, chronicle.Position{}), nil)
	w.waitCaughtUp(t)
	if w.beforeCaught != 6 {
		t.Fatalf("CaughtUp after %d events, want 6", w.beforeCaught)
	}
	mustAppend(t, s, "z1", chronicle.Any, ev("New"))
	mustAppend(t, s, "z2", chronicle.Any, ev("New"), ev("New"))
	got := w.take(t, 9)
	want := readAll(t, s, chronicle.Position{}, nil)
	for i := range want {
		if d := diffEvent(want[i], got[i]); d != "" {
			t.Fatalf("event %d: %s", i, d)
		}
	}
	expectMarker(t, s, "z0", w)
}

// testWatchAllEndPosition: WatchAll from EndPosition delivers only events
// committed after it started, on an empty store as well.
func testWatchAllEndPosition(t *testing.T, s *chronicle.Store) {
	empty := startWatch(t, watchAll(s, chronicle.EndPosition()), nil)
	empty.waitCaughtUp(t)
	mustAppend(t, s, "a", chronicle.Any, events(3, "Old", "old")...)
	mustAppend(t, s, "b", chronicle.Any, ev("Old"))
	w := startWatch(t, watchAll(s, chronicle.EndPosition()), nil)
	w.waitCaughtUp(t)
	if w.beforeCaught != 0 {
		t.Fatalf("EndPosition delivered %d events of history", w.beforeCaught)
	}
	res1 := mustAppend(t, s, "b", chronicle.Any, ev("New"))
	res2 := mustAppend(t, s, "a", chronicle.Any, ev("New"))
	got := w.take(t, 2)
	if got[0].Position != res1.Positions[0] || got[1].Position != res2.Positions[0] {
		t.Fatalf("EndPosition watch delivered %v, %v; want %v, %v", got[0].Position, got[1].Position, res1.Positions[0], res2.Positions[0])
	}
	if n := len(empty.take(t, 6)); n != 6 {
		t.Fatalf("watch started on the empty store delivered %d events", n)
	}
	expectMarker(t, s, "c", w, empty)
}

// testWatchAllResume: WatchAll from a saved event position delivers
// exactly the events after it.
func testWatchAllResume(t *testing.T, s *chronicle.Store) {
	for i := range 10 {
		mustAppend(t, s, sprintf("r%d", i%3), chronicle.Any, chronicle.EventData{Type: "E", Data: []byte{byte('0' + i)}})
	}
	all := readAll(t, s, chronicle.Position{}, nil)
	checkpoint, err := chronicle.ParsePosition(all[3].Position.String())
	if err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, watchAll(s, checkpoint), nil)
	w.waitCaughtUp(t)
	got := w.take(t, 6)
	for i, e := range got {
		if d := diffEvent(all[4+i], e); d != "" {
			t.Fatalf("resumed event %d: %s", i, d)
		}
	}
	expectMarker(t, s, "r0", w)

	last := startWatch(t, watchAll(s, got[len(got)-1].Position), nil)
	last.waitCaughtUp(t)
	if last.beforeCaught != 1 { // the marker
		t.Fatalf("watch from the last event's position replayed %d events, want 1", last.beforeCaught)
	}
}

// testWatchWatchers: Stats counts the running watches.
func testWatchWatchers(t *testing.T, s *chronicle.Store) {
	if n := stats(t, s).Watchers; n != 0 {
		t.Fatalf("Watchers = %d on a new store", n)
	}
	a := startWatch(t, watchStream(s, "w", 0), nil)
	b := startWatch(t, watchAll(s, chronicle.Position{}), chronicle.Filter{chronicle.TypeIs("X")})
	a.waitCaughtUp(t)
	b.waitCaughtUp(t)
	if n := stats(t, s).Watchers; n != 2 {
		t.Fatalf("Watchers = %d with two watches running", n)
	}
	a.stop(t)
	if n := stats(t, s).Watchers; n != 1 {
		t.Fatalf("Watchers = %d after one watch stopped", n)
	}
	// A loop that breaks ends its watch too.
	var wg sync.WaitGroup
	caught := make(chan struct{})
	wg.Go(func() {
		ctx := context.Background()
		for range s.Watch(ctx, "w", chronicle.FromEnd, &chronicle.WatchOptions{CaughtUp: func() { close(caught) }}) {
			break
		}
	})
	wait(t, "the third watch to catch up", caught)
	if n := stats(t, s).Watchers; n != 2 {
		t.Fatalf("Watchers = %d with two watches running", n)
	}
	mustAppend(t, s, "w", chronicle.Any, ev("Wake"))
	within(t, "the breaking watch", wg.Wait)
	b.stop(t)
	if n := stats(t, s).Watchers; n != 0 {
		t.Fatalf("Watchers = %d after every watch stopped", n)
	}
}

// testWatchSlowConsumer: a watch whose loop body is slow still gets every
// event once; other watches are not held up.
func testWatchSlowConsumer(t *testing.T, s *chronicle.Store) {
	slow := startWatch(t, watchStream(s, "s", 0), nil) // its channel fills up
	fast := startWatch(t, watchStream(s, "s", 0), nil)
	slow.waitCaughtUp(t)
	fast.waitCaughtUp(t)
	fill(t, s, "s", 1000, 10)
	checkVersions(t, "fast watch", fast.take(t, 1000), span(1, 1000))
	checkVersions(t, "slow watch", slow.take(t, 1000), span(1, 1000))
	expectMarker(t, s, "s", slow, fast)
}
