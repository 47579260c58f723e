package chronicle_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

type countingReads struct {
	*sqlite.Backend
	reads atomic.Int64
}

func (b *countingReads) ReadAll(ctx context.Context, p *chronicle.ReadAllParams) (chronicle.ReadAllResult, error) {
	b.reads.Add(1)
	return b.Backend.ReadAll(ctx, p)
}

// Only commits that write events wake watchers: saving snapshots does not
// make every watcher query again.
func TestSnapshotSavesDoNotWakeWatchers(t *testing.T) {
	b, err := sqlite.OpenBackend(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cb := &countingReads{Backend: b}
	s, err := chronicle.New(cb, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := s.Append(ctx, "a", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	caught := make(chan struct{})
	got := make(chan chronicle.Event, 10)
	go func() {
		for ev, err := range s.WatchAll(ctx, chronicle.Position{}, &chronicle.WatchOptions{CaughtUp: func() { close(caught) }}) {
			if err == nil {
				got <- ev
			}
		}
	}()
	<-caught
	<-got
	// One live event, so the watch is past its start-up reads.
	if _, err := s.Append(ctx, "b", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
		t.Fatal(err)
	}
	<-got
	time.Sleep(10 * time.Millisecond)
	before := cb.reads.Load()
	for i := range 50 {
		if err := s.SaveSnapshot(ctx, "a", "p", 1, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if n := cb.reads.Load() - before; n > 0 {
		t.Errorf("50 snapshot saves (no events written) caused %d watcher re-reads", n)
	}
}
