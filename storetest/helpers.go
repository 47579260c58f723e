package storetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chronicle-go/chronicle"
)

var sprintf = fmt.Sprintf

// testCtx is the context of one test's calls: cancelled when the test ends
// or after timeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// next returns a position just after p, in the form the backend uses: a
// backend may reject positions it could never have produced. Single-log
// positions (Commit == Prepare) become chronicle.At(n+1); pairs advance
// their Commit part.
func next(p chronicle.Position) chronicle.Position {
	if p.Commit == p.Prepare {
		return chronicle.At(p.Commit + 1)
	}
	return chronicle.Position{Commit: p.Commit + 1, Prepare: p.Prepare}
}

// collect ranges over seq and returns what it yielded up to the first error.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// mustCollect is collect that fails the test on an error.
func mustCollect[T any](t *testing.T, seq iter.Seq2[T, error]) []T {
	t.Helper()
	out, err := collect(seq)
	if err != nil {
		t.Fatalf("iteration failed after %d items: %v", len(out), err)
	}
	return out
}

// iterErr ranges over seq, which must yield nothing but one error, and
// returns that error.
func iterErr[T any](t *testing.T, seq iter.Seq2[T, error]) error {
	t.Helper()
	var errs []error
	items := 0
	for _, err := range seq {
		if err != nil {
			errs = append(errs, err)
		} else {
			items++
		}
	}
	if items != 0 || len(errs) != 1 {
		t.Fatalf("iterator yielded %d items and %d errors %v, want one error only", items, len(errs), errs)
	}
	return errs[0]
}

// ev is an event of type typ without ID.
func ev(typ string) chronicle.EventData { return chronicle.EventData{Type: typ} }

// keyed is an event with an idempotency key.
func keyed(id, typ string) chronicle.EventData { return chronicle.EventData{ID: id, Type: typ} }

// events returns n events of type typ, with Data "prefix-i" for i counted from 1.
func events(n int, typ, prefix string) []chronicle.EventData {
	out := make([]chronicle.EventData, n)
	for i := range out {
		out[i] = chronicle.EventData{Type: typ, Data: []byte(sprintf("%s-%d", prefix, i+1))}
	}
	return out
}

func mustAppend(t *testing.T, s *chronicle.Store, stream string, expect chronicle.Expectation, evs ...chronicle.EventData) chronicle.AppendResult {
	t.Helper()
	res, err := s.Append(testCtx(t), stream, expect, evs...)
	if err != nil {
		t.Fatalf("Append(%q, %v, %d events): %v", stream, expect, len(evs), err)
	}
	return res
}

// fill appends n events of type "Filled" to stream in batches of at most
// batch events, with Data "fill-i".
func fill(t *testing.T, s *chronicle.Store, stream string, n, batch int) {
	t.Helper()
	all := events(n, "Filled", "fill")
	for len(all) > 0 {
		k := min(batch, len(all))
		mustAppend(t, s, stream, chronicle.Any, all[:k]...)
		all = all[k:]
	}
}

func readStream(t *testing.T, s *chronicle.Store, stream string, from int64, o *chronicle.ReadOptions) []chronicle.Event {
	t.Helper()
	return mustCollect(t, s.Read(testCtx(t), stream, from, o))
}

func readAll(t *testing.T, s *chronicle.Store, from chronicle.Position, o *chronicle.ReadOptions) []chronicle.Event {
	t.Helper()
	return mustCollect(t, s.ReadAll(testCtx(t), from, o))
}

func stats(t *testing.T, s *chronicle.Store) chronicle.Stats {
	t.Helper()
	st, err := s.Stats(testCtx(t))
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

func streamInfo(t *testing.T, s *chronicle.Store, stream string) chronicle.StreamInfo {
	t.Helper()
	info, err := s.StreamInfo(testCtx(t), stream)
	if err != nil {
		t.Fatalf("StreamInfo(%q): %v", stream, err)
	}
	return info
}

func versions(evs []chronicle.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Version
	}
	return out
}

func ids(evs []chronicle.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func datas(evs []chronicle.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Data)
	}
	return out
}

// span returns the versions from..to, counting down when from > to.
func span(from, to int64) []int64 {
	var out []int64
	if from <= to {
		for v := from; v <= to; v++ {
			out = append(out, v)
		}
	} else {
		for v := from; v >= to; v-- {
			out = append(out, v)
		}
	}
	return out
}

// checkVersions fails unless evs have exactly the versions want.
func checkVersions(t *testing.T, what string, evs []chronicle.Event, want []int64) {
	t.Helper()
	if got := versions(evs); !slices.Equal(got, want) {
		t.Fatalf("%s: versions %s, want %s", what, short(got), short(want))
	}
}

// short prints a long slice by its ends.
func short[T any](s []T) string {
	if len(s) <= 12 {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v … %v (%d)", s[:5], s[len(s)-5:], len(s))
}

// wantErr fails unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one matching %v", what, err, target)
	}
}

// wantInvalid fails unless err matches ErrInvalid and is a *ValidationError.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	wantErr(t, what, err, chronicle.ErrInvalid)
	var ve *chronicle.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%s: error %v (%T) is not a *chronicle.ValidationError", what, err, err)
	}
	if ve.Field == "" || ve.Reason == "" {
		t.Errorf("%s: ValidationError %+v lacks Field or Reason", what, *ve)
	}
}

// wantConflict fails unless err is a *ConflictError with the given details.
func wantConflict(t *testing.T, what string, err error, stream string, expected chronicle.Expectation, actual int64) {
	t.Helper()
	wantErr(t, what, err, chronicle.ErrConflict)
	var ce *chronicle.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %v (%T) is not a *chronicle.ConflictError", what, err, err)
	}
	if ce.Stream != stream || ce.Expected != expected || ce.Actual != actual {
		t.Fatalf("%s: conflict {Stream %q, Expected %v, Actual %d}, want {%q, %v, %d}",
			what, ce.Stream, ce.Expected, ce.Actual, stream, expected, actual)
	}
}

// wait fails the test when ch is not ready within timeout.
func wait[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
		panic("unreachable")
	}
}

// within runs f in a goroutine and fails the test when it does not return
// within timeout (for calls that might deadlock).
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	wait(t, what, done)
}

// async runs f in a goroutine with the test's context and returns its
// result. When the test ends early, the context is cancelled and the
// goroutine awaited, so it never outlives the test or its store.
func async(t *testing.T, f func(ctx context.Context) error) <-chan error {
	ctx := testCtx(t)
	res := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		res <- f(ctx)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(timeout):
			t.Errorf("a goroutine of the test did not end within %v", timeout)
		}
	})
	return res
}

// watchFunc starts a watch with the given options.
type watchFunc func(ctx context.Context, o *chronicle.WatchOptions) iter.Seq2[chronicle.Event, error]

func watchStream(s *chronicle.Store, stream string, from int64) watchFunc {
	return func(ctx context.Context, o *chronicle.WatchOptions) iter.Seq2[chronicle.Event, error] {
		return s.Watch(ctx, stream, from, o)
	}
}

func watchAll(s *chronicle.Store, from chronicle.Position) watchFunc {
	return func(ctx context.Context, o *chronicle.WatchOptions) iter.Seq2[chronicle.Event, error] {
		return s.WatchAll(ctx, from, o)
	}
}

// errNoFinalError marks a watch whose iterator returned without an error,
// which a watch must never do unless its loop breaks.
var errNoFinalError = errors.New("watch iterator ended without an error")

// watcher runs a watch in a goroutine and hands its events to the test.
type watcher struct {
	cancel context.CancelFunc
	events chan chronicle.Event
	caught chan struct{} // closed at the first CaughtUp call
	done   chan struct{} // closed when the iterator has returned
	err    error         // the iterator's final error; read after done

	caughtCalls  atomic.Int32
	delivered    int // events yielded so far; owned by the goroutine
	beforeCaught int // events yielded before the first CaughtUp; read after caught
}

// startWatch starts f with filter in a new goroutine. The watch is cancelled
// and awaited when the test ends.
func startWatch(t *testing.T, f watchFunc, filter chronicle.Filter) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{
		cancel: cancel,
		events: make(chan chronicle.Event, 256),
		caught: make(chan struct{}),
		done:   make(chan struct{}),
	}
	opts := &chronicle.WatchOptions{Filter: filter, CaughtUp: func() {
		if w.caughtCalls.Add(1) == 1 {
			w.beforeCaught = w.delivered
			close(w.caught)
		}
	}}
	seq := f(ctx, opts)
	go func() {
		defer close(w.done)
		for ev, err := range seq {
			if err != nil {
				w.err = err
				return
			}
			w.delivered++
			select {
			case w.events <- ev:
			case <-ctx.Done():
				w.err = ctx.Err()
				return
			}
		}
		w.err = errNoFinalError
	}()
	t.Cleanup(func() {
		w.cancel()
		select {
		case <-w.done:
		case <-time.After(timeout):
			t.Errorf("watch did not end within %v of its cancellation", timeout)
		}
	})
	return w
}

// waitCaughtUp waits for the watch's CaughtUp call.
func (w *watcher) waitCaughtUp(t *testing.T) {
	t.Helper()
	select {
	case <-w.caught:
	case <-w.done:
		t.Fatalf("watch ended before catching up: %v", w.err)
	case <-time.After(timeout):
		t.Fatalf("watch did not catch up within %v", timeout)
	}
}

// take returns the next n events of the watch.
func (w *watcher) take(t *testing.T, n int) []chronicle.Event {
	t.Helper()
	out := make([]chronicle.Event, 0, n)
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case e := <-w.events:
			out = append(out, e)
		case <-w.done:
			// Drain what the watch sent before it ended.
			for len(out) < n {
				select {
				case e := <-w.events:
					out = append(out, e)
					continue
				default:
				}
				t.Fatalf("watch ended after %d of %d events: %v", len(out), n, w.err)
			}
		case <-deadline:
			t.Fatalf("watch delivered %d of %d events within %v (last: %s)", len(out), n, timeout, short(versions(out)))
		}
	}
	return out
}

// stop cancels the watch and returns its final error.
func (w *watcher) stop(t *testing.T) error {
	t.Helper()
	w.cancel()
	return w.wait(t)
}

// wait waits for the watch to end and returns its final error.
func (w *watcher) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-w.done:
		return w.err
	case <-time.After(timeout):
		t.Fatalf("watch did not end within %v", timeout)
		return nil
	}
}

// expectMarker appends a marker event to stream and checks that it is the
// next event each watch delivers: nothing was duplicated or left over.
func expectMarker(t *testing.T, s *chronicle.Store, stream string, ws ...*watcher) {
	t.Helper()
	res := mustAppend(t, s, stream, chronicle.Any, chronicle.EventData{Type: "Marker", Data: []byte("marker")})
	for i, w := range ws {
		got := w.take(t, 1)[0]
		if got.Stream != stream || got.Position != res.Positions[0] || string(got.Data) != "marker" {
			t.Fatalf("watch %d: after the expected events came %s@%d (%q), want the marker %s@%d",
				i, got.Stream, got.Version, got.Data, stream, res.Version)
		}
	}
}

// watchHistory runs a watch until it catches up and returns what it delivered.
func watchHistory(t *testing.T, f watchFunc, filter chronicle.Filter) []chronicle.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	caught := false
	var out []chronicle.Event
	for e, err := range f(ctx, &chronicle.WatchOptions{Filter: filter, CaughtUp: func() { caught = true; cancel() }}) {
		if err != nil {
			if !caught || !errors.Is(err, context.Canceled) {
				t.Fatalf("watch (caught up: %v) failed after %d events: %v", caught, len(out), err)
			}
			break
		}
		out = append(out, e)
	}
	if !caught {
		t.Fatalf("watch ended without catching up")
	}
	return out
}

// fitRunes repeats the runes of s into a string of exactly n bytes, padding
// with 'x' where the next rune would not fit.
func fitRunes(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.Repeat(s, n) {
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	for b.Len() < n {
		b.WriteByte('x')
	}
	return b.String()
}
