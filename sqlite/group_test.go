package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

// holdWriter occupies the writer goroutine until release is called, so
// that the requests queued meanwhile form one group.
func holdWriter(t *testing.T, b *Backend) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	// Queue the holding request directly, so that the writer goroutine
	// (not this caller) runs it.
	r := &writeReq{ctx: context.Background(), done: make(chan struct{}), fn: func(*conn) (int, error) {
		close(started)
		<-unblock
		return 0, nil
	}}
	b.queue <- r
	errc := make(chan error, 1)
	go func() {
		<-r.done
		errc <- r.err
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-errc; err != nil {
			t.Errorf("holding request: %v", err)
		}
	}
}

func waitQueued(t *testing.T, b *Backend, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(b.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(b.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func openStore(t *testing.T) (*chronicle.Store, *Backend) {
	t.Helper()
	b, err := OpenBackend(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chronicle.New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, b
}

// TestGroupConflictIsolated: in one group, a request whose expectation
// fails and a request with bad content fail alone; the others commit.
func TestGroupConflictIsolated(t *testing.T) {
	s, b := openStore(t)
	ctx := t.Context()
	if _, err := s.Append(ctx, "taken", chronicle.Any, chronicle.EventData{Type: "First"}); err != nil {
		t.Fatal(err)
	}
	groupsBefore := b.groups.Load()

	release := holdWriter(t, b)
	type result struct {
		name string
		res  chronicle.AppendResult
		err  error
	}
	results := make(chan result, 4)
	appends := []struct {
		name   string
		stream string
		expect chronicle.Expectation
	}{
		{"ok-1", "a", chronicle.NoStream},
		{"conflict", "taken", chronicle.NoStream},
		{"ok-2", "b", chronicle.Exactly(0)},
		{"ok-3", "taken", chronicle.Exactly(1)},
	}
	for i, a := range appends {
		go func() {
			res, err := s.Append(ctx, a.stream, a.expect, chronicle.EventData{ID: a.name, Type: "T"})
			results <- result{a.name, res, err}
		}()
		waitQueued(t, b, i+1) // keep the queue order deterministic
	}
	release()

	got := map[string]result{}
	for range appends {
		r := <-results
		got[r.name] = r
	}
	if err := got["conflict"].err; !errors.Is(err, chronicle.ErrConflict) {
		t.Fatalf("conflicting request: %v, want ErrConflict", err)
	}
	for _, name := range []string{"ok-1", "ok-2", "ok-3"} {
		if r := got[name]; r.err != nil || r.res.Written != 1 || len(r.res.Positions) != 1 {
			t.Fatalf("%s: %+v, %v; want one event written", name, r.res, r.err)
		}
	}
	if got["ok-3"].res.Version != 2 {
		t.Fatalf("ok-3 version %d, want 2", got["ok-3"].res.Version)
	}
	if n := b.groups.Load() - groupsBefore; n != 1 {
		t.Fatalf("%d groups committed, want the 4 requests in 1", n)
	}
	var count int
	for _, err := range s.ReadAll(ctx, chronicle.Position{}, nil) {
		if err != nil {
			t.Fatal(err)
		}
		count++
	}
	if count != 4 {
		t.Fatalf("store holds %d events, want 4", count)
	}
}

// TestGroupWithdrawBeforeStart: a request whose context ends while it
// waits in the queue returns at once and writes nothing.
func TestGroupWithdrawBeforeStart(t *testing.T) {
	s, b := openStore(t)
	release := holdWriter(t, b)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "w", chronicle.Any, chronicle.EventData{Type: "T"})
		errc <- err
	}()
	waitQueued(t, b, 1)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("withdrawn append: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled queued append did not return while the writer was busy")
	}
	release()
	info, err := s.StreamInfo(t.Context(), "w")
	if err != nil || info.Version != 0 {
		t.Fatalf("withdrawn append wrote: %+v, %v", info, err)
	}
}

// TestGroupCancelAllOrNothing: appends cancelled at random moments under
// concurrency are either reported written (and fully present) or reported
// failed (and absent).
func TestGroupCancelAllOrNothing(t *testing.T) {
	s, _ := openStore(t)
	const writers, perWriter = 8, 60
	type outcome struct {
		id  string
		n   int
		err error
	}
	out := make(chan outcome, writers*perWriter)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%d", w, i)
				n := 1 + rng.IntN(20)
				evs := make([]chronicle.EventData, n)
				for j := range evs {
					evs[j] = chronicle.EventData{ID: fmt.Sprintf("%s-%d", id, j), Type: "T"}
				}
				ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rng.IntN(3000))*time.Microsecond)
				_, err := s.Append(ctx, "s-"+id, chronicle.Any, evs...)
				cancel()
				out <- outcome{id, n, err}
			}
		})
	}
	wg.Wait()
	close(out)
	written, failed := 0, 0
	for o := range out {
		info, err := s.StreamInfo(t.Context(), "s-"+o.id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case o.err == nil && info.Version != int64(o.n):
			t.Fatalf("%s reported written but holds %d of %d events", o.id, info.Version, o.n)
		case o.err != nil && info.Version != 0:
			t.Fatalf("%s reported %v but holds %d events", o.id, o.err, info.Version)
		case o.err != nil && !errors.Is(o.err, context.DeadlineExceeded):
			t.Fatalf("%s: unexpected error %v", o.id, o.err)
		case o.err == nil:
			written++
		default:
			failed++
		}
	}
	t.Logf("%d appends written, %d withdrawn or interrupted", written, failed)
}

// TestGroupRerunAfterRollback: when one request ends the whole transaction
// (as an interrupt or a constraint failure under INSERT OR ROLLBACK does),
// it fails alone; the requests that ran before it in the group run again
// and commit.
func TestGroupRerunAfterRollback(t *testing.T) {
	s, b := openStore(t)
	ctx := t.Context()
	release := holdWriter(t, b)
	errs := make(chan error, 3)
	go func() {
		_, err := s.Append(ctx, "before", chronicle.NoStream, chronicle.EventData{Type: "T"})
		errs <- err
	}()
	waitQueued(t, b, 1)
	culprit := make(chan error, 1)
	go func() {
		culprit <- b.write(ctx, true, func(w *conn) (int, error) { return 1, w.exec("ROLLBACK") })
	}()
	waitQueued(t, b, 2)
	go func() {
		_, err := s.Append(ctx, "after", chronicle.NoStream, chronicle.EventData{Type: "T"})
		errs <- err
	}()
	waitQueued(t, b, 3)
	release()
	if err := <-culprit; err == nil {
		t.Fatal("the request that ended the transaction reported success")
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("an innocent request of the group failed: %v", err)
		}
	}
	for _, stream := range []string{"before", "after"} {
		if info, err := s.StreamInfo(ctx, stream); err != nil || info.Version != 1 {
			t.Fatalf("%s: %+v, %v; want version 1", stream, info, err)
		}
	}
}
