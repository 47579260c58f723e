package chronicle_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/internal/memback"
)

// outage is an in-memory backend whose reads fail while it is down, as a
// database server's do while it restarts.
type outage struct {
	*memback.Backend
	down    atomic.Pointer[error]  // the error reads fail with; nil when up
	fails   atomic.Int64           // reads failed so far
	changed atomic.Pointer[func()] // the store's change notice, from WatchChanges
}

// WatchChanges hands the test the store's change notice, so that it can
// announce a change (as a reconnecting notifier does) without a commit.
func (b *outage) WatchChanges(ctx context.Context, changed func()) {
	b.changed.Store(&changed)
	<-ctx.Done()
}

func (b *outage) announce() {
	if f := b.changed.Load(); f != nil {
		(*f)()
	}
}

// waitFails waits until reads have failed more than n times in all.
func (b *outage) waitFails(t *testing.T, n int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); b.fails.Load() <= n; {
		if time.Now().After(deadline) {
			t.Fatal("no read failed")
		}
		time.Sleep(time.Millisecond)
	}
}

func (b *outage) fail() error {
	if e := b.down.Load(); e != nil {
		b.fails.Add(1)
		return *e
	}
	return nil
}

func (b *outage) set(err error) {
	if err == nil {
		b.down.Store(nil)
		return
	}
	b.down.Store(&err)
}

func (b *outage) ReadStream(ctx context.Context, p *chronicle.ReadStreamParams) (chronicle.ReadStreamResult, error) {
	if err := b.fail(); err != nil {
		return chronicle.ReadStreamResult{}, err
	}
	return b.Backend.ReadStream(ctx, p)
}

func (b *outage) ReadAll(ctx context.Context, p *chronicle.ReadAllParams) (chronicle.ReadAllResult, error) {
	if err := b.fail(); err != nil {
		return chronicle.ReadAllResult{}, err
	}
	return b.Backend.ReadAll(ctx, p)
}

func (b *outage) Head(ctx context.Context) (chronicle.Position, error) {
	if err := b.fail(); err != nil {
		return chronicle.Position{}, err
	}
	return b.Backend.Head(ctx)
}

func (b *outage) StreamInfo(ctx context.Context, stream string) (chronicle.StreamInfo, error) {
	if err := b.fail(); err != nil {
		return chronicle.StreamInfo{}, err
	}
	return b.Backend.StreamInfo(ctx, stream)
}

var errDown = fmt.Errorf("dial tcp: connection refused: %w", chronicle.ErrUnavailable)

func newOutage(t *testing.T) (*chronicle.Store, *outage) {
	t.Helper()
	b := &outage{Backend: memback.New()}
	s, err := chronicle.New(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, b
}

// watchKinds runs a test on Watch and on WatchAll, from the start or from
// the end.
var watchKinds = []struct {
	name  string
	watch func(s *chronicle.Store, ctx context.Context, fromEnd bool, o *chronicle.WatchOptions) func(func(chronicle.Event, error) bool)
}{
	{"Watch", func(s *chronicle.Store, ctx context.Context, fromEnd bool, o *chronicle.WatchOptions) func(func(chronicle.Event, error) bool) {
		from := int64(0)
		if fromEnd {
			from = chronicle.FromEnd
		}
		return s.Watch(ctx, "s", from, o)
	}},
	{"WatchAll", func(s *chronicle.Store, ctx context.Context, fromEnd bool, o *chronicle.WatchOptions) func(func(chronicle.Event, error) bool) {
		from := chronicle.Position{}
		if fromEnd {
			from = chronicle.EndPosition()
		}
		return s.WatchAll(ctx, from, o)
	}},
}

func appendN(t *testing.T, s *chronicle.Store, n int) {
	t.Helper()
	for range n {
		if _, err := s.Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "E"}); err != nil {
			t.Fatal(err)
		}
	}
}

// A watch rides out an outage by itself: the events committed before,
// during and after it arrive once each, in order, and the loop body sees
// no error.
func TestWatchRidesOutAnOutage(t *testing.T) {
	for _, k := range watchKinds {
		for _, fromEnd := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/fromEnd=%v", k.name, fromEnd), func(t *testing.T) {
				s, b := newOutage(t)
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				if fromEnd {
					// Down already when the watch looks up the end.
					b.set(errDown)
				} else {
					appendN(t, s, 3)
				}
				got := make(chan int64, 100)
				ended := make(chan error, 1)
				caught := make(chan struct{})
				go func() {
					o := &chronicle.WatchOptions{CaughtUp: func() { close(caught) }}
					for ev, err := range k.watch(s, ctx, fromEnd, o) {
						if err != nil {
							ended <- err
							return
						}
						got <- ev.Version
					}
				}()
				if fromEnd {
					time.Sleep(150 * time.Millisecond)
					b.set(nil)
				}
				<-caught
				appendN(t, s, 2)
				b.set(errDown)
				appendN(t, s, 4) // committed while the watch cannot read
				time.Sleep(300 * time.Millisecond)
				b.set(nil)
				appendN(t, s, 1)
				want := int64(10)
				if fromEnd {
					want = 7
				}
				next := int64(1)
				for next <= want {
					select {
					case v := <-got:
						if v != next {
							t.Fatalf("got version %d, want %d", v, next)
						}
						next++
					case err := <-ended:
						t.Fatalf("watch ended with %v after version %d", err, next-1)
					case <-ctx.Done():
						t.Fatalf("only %d of %d events delivered", next-1, want)
					}
				}
				if b.fails.Load() == 0 {
					t.Fatal("the outage failed no read: the test tested nothing")
				}
				select {
				case v := <-got:
					t.Fatalf("extra event, version %d", v)
				case err := <-ended:
					t.Fatalf("watch ended with %v", err)
				case <-time.After(50 * time.Millisecond):
				}
			})
		}
	}
}

// A watch gives up with the storage's error once RetryFor has passed,
// at once with a negative RetryFor or an error that is not transient, and
// stops retrying when its context ends or the store closes.
func TestWatchGivesUp(t *testing.T) {
	errOther := errors.New("disk on fire")
	tests := []struct {
		name     string
		err      error
		retryFor time.Duration
		cancel   bool // cancel the context while the watch retries
		close    bool // close the store while the watch retries
		want     error
		atLeast  time.Duration
		atMost   time.Duration
	}{
		{name: "after RetryFor", err: errDown, retryFor: 300 * time.Millisecond, want: chronicle.ErrUnavailable, atLeast: 300 * time.Millisecond, atMost: 5 * time.Second},
		{name: "busy, after RetryFor", err: fmt.Errorf("locked: %w", chronicle.ErrBusy), retryFor: 200 * time.Millisecond, want: chronicle.ErrBusy, atLeast: 200 * time.Millisecond, atMost: 5 * time.Second},
		{name: "negative RetryFor", err: errDown, retryFor: -1, want: chronicle.ErrUnavailable, atMost: time.Second},
		{name: "not transient", err: errOther, want: errOther, atMost: time.Second},
		{name: "context ends", err: errDown, cancel: true, want: context.Canceled, atLeast: 100 * time.Millisecond, atMost: 5 * time.Second},
		{name: "store closes", err: errDown, close: true, want: chronicle.ErrClosed, atLeast: 100 * time.Millisecond, atMost: 5 * time.Second},
	}
	for _, k := range watchKinds {
		for _, tc := range tests {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				s, b := newOutage(t)
				appendN(t, s, 2)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				b.set(tc.err)
				start := time.Now() // before the timer, which atLeast counts from
				if tc.cancel || tc.close {
					time.AfterFunc(100*time.Millisecond, func() {
						if tc.cancel {
							cancel()
						} else {
							s.Close()
						}
					})
				}
				var last error
				n := 0
				for _, err := range k.watch(s, ctx, false, &chronicle.WatchOptions{RetryFor: tc.retryFor}) {
					if err == nil {
						n++
						continue
					}
					last = err
				}
				took := time.Since(start)
				if n != 0 || !errors.Is(last, tc.want) {
					t.Fatalf("watch delivered %d events and ended with %v, want none and %v", n, last, tc.want)
				}
				if took < tc.atLeast || took > tc.atMost {
					t.Errorf("watch ended after %v, want %v..%v", took, tc.atLeast, tc.atMost)
				}
			})
		}
	}
}

// A watch that recovered from one outage through the window of recent
// events (nothing was committed meanwhile) has its full RetryFor again for
// the next outage.
func TestWatchRetriesEachOutageAfresh(t *testing.T) {
	s, b := newOutage(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	appendN(t, s, 2)
	got := make(chan int64, 10)
	ended := make(chan error, 1)
	caught := make(chan struct{})
	const retryFor = 300 * time.Millisecond
	go func() {
		o := &chronicle.WatchOptions{RetryFor: retryFor, CaughtUp: func() { close(caught) }}
		for ev, err := range s.WatchAll(ctx, chronicle.Position{}, o) {
			if err != nil {
				ended <- err
				return
			}
			got <- ev.Version
		}
	}()
	<-caught
	<-got
	<-got
	outage := func() {
		t.Helper()
		n := b.fails.Load()
		b.set(errDown)
		b.announce() // the window's refresh fails: the watch reads storage, which fails
		b.waitFails(t, n+1)
		b.set(nil)
		b.announce() // the window comes back at the watch's position
	}
	outage()
	time.Sleep(2 * retryFor)
	outage()
	time.Sleep(retryFor / 2)
	select {
	case err := <-ended:
		t.Fatalf("the watch gave up at the second outage: %v", err)
	default:
	}
	appendN(t, s, 1)
	select {
	case v := <-got:
		if v != 3 {
			t.Fatalf("got version %d, want 3", v)
		}
	case err := <-ended:
		t.Fatalf("the watch ended: %v", err)
	case <-ctx.Done():
		t.Fatal("the event appended after the outages was not delivered")
	}
}
