package storetest

import (
	"context"
	"errors"
	"iter"
	"sync"
	"testing"

	"github.com/chronicle-go/chronicle"
)

var closeTests = []test{
	{name: "Twice", raw: testCloseTwice},
	{name: "AfterClose", raw: testCloseAfter},
	{name: "EndsWatches", raw: testCloseEndsWatches},
	{name: "DuringCalls", raw: testCloseDuringCalls},
}

// testCloseTwice: Close is safe to call again, and returns nil then.
func testCloseTwice(t *testing.T, open func(t *testing.T) *chronicle.Store) {
	s := open(t)
	mustAppend(t, s, "c", chronicle.Any, ev("E"))
	CheckInvariants(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// testCloseAfter: after Close every method fails with ErrClosed.
func testCloseAfter(t *testing.T, open func(t *testing.T) *chronicle.Store) {
	s := open(t)
	res := mustAppend(t, s, "c", chronicle.Any, ev("E"), ev("E"))
	saveSnapshot(t, s, "c", "", 1, "x")
	if err := s.SaveGlobalSnapshot(testCtx(t), "", res.Positions[0], []byte("x")); err != nil {
		t.Fatal(err)
	}
	CheckInvariants(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := testCtx(t)
	seqErr := func(seq iter.Seq2[chronicle.Event, error]) error { return iterErr(t, seq) }
	calls := []struct {
		name string
		call func() error
	}{
		{"Append", func() error { _, err := s.Append(ctx, "c", chronicle.Any, ev("E")); return err }},
		{"AppendEmpty", func() error { _, err := s.Append(ctx, "c", chronicle.Any); return err }},
		{"AppendDuplicate", func() error { _, err := s.Append(ctx, "c", chronicle.Any, keyed("k", "E")); return err }},
		{"Read", func() error { return seqErr(s.Read(ctx, "c", 0, nil)) }},
		{"ReadBackwards", func() error { return seqErr(s.Read(ctx, "c", 0, &chronicle.ReadOptions{Backwards: true})) }},
		{"ReadAll", func() error { return seqErr(s.ReadAll(ctx, chronicle.Position{}, nil)) }},
		{"Watch", func() error { return seqErr(s.Watch(ctx, "c", 0, nil)) }},
		{"WatchFromEnd", func() error { return seqErr(s.Watch(ctx, "c", chronicle.FromEnd, nil)) }},
		{"WatchAll", func() error { return seqErr(s.WatchAll(ctx, chronicle.Position{}, nil)) }},
		{"WatchAllFromEnd", func() error { return seqErr(s.WatchAll(ctx, chronicle.EndPosition(), nil)) }},
		{"SaveSnapshot", func() error { return s.SaveSnapshot(ctx, "c", "", 1, []byte("y")) }},
		{"LoadSnapshot", func() error { _, _, err := s.LoadSnapshot(ctx, "c", ""); return err }},
		{"SaveGlobalSnapshot", func() error { return s.SaveGlobalSnapshot(ctx, "", res.Positions[0], []byte("y")) }},
		{"LoadGlobalSnapshot", func() error { _, _, err := s.LoadGlobalSnapshot(ctx, ""); return err }},
		{"StreamInfo", func() error { _, err := s.StreamInfo(ctx, "c"); return err }},
		{"EventByID", func() error { _, _, err := s.EventByID(ctx, "c", "k"); return err }},
		{"Stats", func() error { _, err := s.Stats(ctx); return err }},
		{"ListStreams", func() error { _, err := collect(s.ListStreams(ctx, nil)); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			var err error
			within(t, c.name+" on a closed store", func() { err = c.call() })
			wantErr(t, c.name+" after Close", err, chronicle.ErrClosed)
		})
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after the calls: %v", err)
	}
}

// testCloseEndsWatches: Close ends running watches with ErrClosed.
func testCloseEndsWatches(t *testing.T, open func(t *testing.T) *chronicle.Store) {
	s := open(t)
	fill(t, s, "w", 10, 10)
	ws := []*watcher{
		startWatch(t, watchStream(s, "w", 0), nil),
		startWatch(t, watchStream(s, "w", chronicle.FromEnd), nil),
		startWatch(t, watchStream(s, "empty", 0), nil),
		startWatch(t, watchAll(s, chronicle.Position{}), nil),
		startWatch(t, watchAll(s, chronicle.EndPosition()), chronicle.Filter{chronicle.TypeIs("None")}),
	}
	for _, w := range ws {
		w.waitCaughtUp(t)
	}
	CheckInvariants(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, w := range ws {
		if err := w.wait(t); !errors.Is(err, chronicle.ErrClosed) {
			t.Errorf("watch %d ended with %v, want ErrClosed", i, err)
		}
	}
}

// testCloseDuringCalls: calls racing with Close either complete or fail
// with ErrClosed, and Close waits for them.
func testCloseDuringCalls(t *testing.T, open func(t *testing.T) *chronicle.Store) {
	s := open(t)
	fill(t, s, "d", 600, 300)
	ctx := context.Background()
	started := make(chan struct{}, 8)
	var wg sync.WaitGroup
	loop := func(name string, op func() error) {
		wg.Go(func() {
			started <- struct{}{}
			for {
				err := op()
				if err == nil {
					continue
				}
				if !errors.Is(err, chronicle.ErrClosed) {
					t.Errorf("%s during Close: %v, want ErrClosed", name, err)
				}
				return
			}
		})
	}
	loop("Append", func() error { _, err := s.Append(ctx, "d", chronicle.Any, ev("E")); return err })
	loop("Read", func() error { _, err := collect(s.Read(ctx, "d", 0, nil)); return err })
	loop("ReadAll", func() error {
		_, err := collect(s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Backwards: true}))
		return err
	})
	loop("Stats", func() error { _, err := s.Stats(ctx); return err })
	loop("Watch", func() error {
		for _, err := range s.Watch(ctx, "d", 0, nil) {
			if err != nil {
				return err
			}
		}
		return errNoFinalError
	})
	for range 5 {
		wait(t, "the callers to start", started)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	within(t, "the callers to see the close", wg.Wait)
}
