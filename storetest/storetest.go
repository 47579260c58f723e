// Package storetest is the conformance suite for Chronicle backends.
//
// Every backend runs it from its own tests, through the public API of the
// [chronicle.Store] it builds:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) *chronicle.Store {
//			s, err := mybackend.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite checks the behaviour documented on [chronicle.Store] and
// [chronicle.Backend]: appends and expectations, idempotency, looking an
// event up by its ID, the round trip
// of every event field, input validation, reads and paging, filters,
// watches and their hand-off from history to live events, snapshots,
// metrics, Close, and concurrent use (run it with -race). After each subtest
// it re-reads the whole store and checks the invariants of [CheckInvariants].
package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

// timeout bounds every wait of the suite, and each test's calls together:
// a backend that hangs fails the test instead of blocking it. It is a guard,
// not a speed goal, so it leaves room for the race detector on a slow
// machine (the paging tests with 3-event pages make hundreds of queries).
const timeout = time.Minute

// test is one subtest. Most get a fresh store whose invariants are checked
// when the test ends; tests that close their store open it themselves.
type test struct {
	name string
	run  func(t *testing.T, s *chronicle.Store)
	raw  func(t *testing.T, open func(t *testing.T) *chronicle.Store)
}

// Run runs the conformance suite. open must return a fresh, empty store,
// isolated from every other, for each subtest; it typically registers the
// store's Close with t.Cleanup. Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) *chronicle.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Append", appendTests},
		{"Idempotency", idempotencyTests},
		{"EventByID", eventByIDTests},
		{"Fields", fieldTests},
		{"Validation", validationTests},
		{"Read", readTests},
		{"ReadAll", readAllTests},
		{"Filter", filterTests},
		{"Watch", watchTests},
		{"Snapshot", snapshotTests},
		{"Metrics", metricsTests},
		{"Close", closeTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					if tc.raw != nil {
						tc.raw(t, open)
						return
					}
					tc.run(t, openChecked(t, open))
				})
			}
		})
	}
}

// openChecked opens a store and checks its invariants when the test ends,
// before the store is closed (cleanups run last-registered first).
func openChecked(t *testing.T, open func(t *testing.T) *chronicle.Store) *chronicle.Store {
	t.Helper()
	s := open(t)
	if s == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		CheckInvariants(t, s)
		st, err := s.Stats(context.Background())
		if err != nil {
			t.Errorf("invariants: Stats: %v", err)
		} else if st.Watchers != 0 {
			t.Errorf("invariants: %d watches still running after the test", st.Watchers)
		}
	})
	return s
}

// CheckInvariants re-reads the whole store and reports every violation of
// the invariants that hold for any store at rest: ReadAll returns positions
// in strictly increasing order; each stream's versions are 1…N without gaps,
// in position order; each event reads the same through Read and ReadAll,
// field by field; a backwards ReadAll returns the same events reversed;
// Stats and ListStreams agree with what was read; every event has an ID and
// a UTC time. Backends may call it in their own tests, for example after
// reopening a store.
func CheckInvariants(t testing.TB, s *chronicle.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	all, err := collect(s.ReadAll(ctx, chronicle.Position{}, nil))
	if err != nil {
		t.Errorf("invariants: ReadAll: %v", err)
		return
	}
	byStream := make(map[string][]chronicle.Event)
	var order []string
	for i, ev := range all {
		if i > 0 && !all[i-1].Position.Before(ev.Position) {
			t.Errorf("invariants: ReadAll position %v follows %v", ev.Position, all[i-1].Position)
		}
		if ev.ID == "" {
			t.Errorf("invariants: event %s@%d has no ID", ev.Stream, ev.Version)
		}
		if ev.Time.Location() != time.UTC {
			t.Errorf("invariants: event %s@%d time %v is not in UTC", ev.Stream, ev.Version, ev.Time)
		}
		prev := byStream[ev.Stream]
		if want := int64(len(prev) + 1); ev.Version != want {
			t.Errorf("invariants: in ReadAll, event %d of stream %q has version %d, want %d", want, ev.Stream, ev.Version, want)
		}
		if prev == nil {
			order = append(order, ev.Stream)
		}
		byStream[ev.Stream] = append(prev, ev)
	}

	back, err := collect(s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Backwards: true}))
	if err != nil {
		t.Errorf("invariants: ReadAll backwards: %v", err)
	} else if len(back) != len(all) {
		t.Errorf("invariants: ReadAll backwards returned %d events, forwards %d", len(back), len(all))
	} else {
		for i, ev := range back {
			if d := diffEvent(all[len(all)-1-i], ev); d != "" {
				t.Errorf("invariants: ReadAll backwards differs from forwards: %s", d)
				break
			}
		}
	}

	for _, name := range order {
		want := byStream[name]
		got, err := collect(s.Read(ctx, name, 0, nil))
		if err != nil {
			t.Errorf("invariants: Read(%q): %v", name, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("invariants: Read(%q) returned %d events, ReadAll has %d", name, len(got), len(want))
			continue
		}
		for i := range got {
			if d := diffEvent(want[i], got[i]); d != "" {
				t.Errorf("invariants: Read(%q) differs from ReadAll: %s", name, d)
				break
			}
		}
	}

	st, err := s.Stats(ctx)
	if err != nil {
		t.Errorf("invariants: Stats: %v", err)
	} else {
		var head chronicle.Position
		if len(all) > 0 {
			head = all[len(all)-1].Position
		}
		if st.Events != int64(len(all)) || st.Streams != int64(len(order)) || st.Head != head {
			t.Errorf("invariants: Stats = %d events, %d streams, head %v; read %d events, %d streams, head %v",
				st.Events, st.Streams, st.Head, len(all), len(order), head)
		}
	}

	listed, err := collect(s.ListStreams(ctx, nil))
	if err != nil {
		t.Errorf("invariants: ListStreams: %v", err)
		return
	}
	if len(listed) != len(order) {
		t.Errorf("invariants: ListStreams returned %d streams, ReadAll has %d", len(listed), len(order))
	}
	for i, info := range listed {
		if i > 0 && listed[i-1].Stream >= info.Stream {
			t.Errorf("invariants: ListStreams: %q listed after %q", info.Stream, listed[i-1].Stream)
		}
		evs := byStream[info.Stream]
		if n := int64(len(evs)); info.Version != n || info.Events != n {
			t.Errorf("invariants: ListStreams: %q has version %d, %d events; read %d", info.Stream, info.Version, info.Events, n)
		}
	}
}

// diffEvent describes how got differs from want, or returns "".
func diffEvent(want, got chronicle.Event) string {
	switch {
	case got.Stream != want.Stream, got.Version != want.Version:
		return sprintf("event %q@%d, want %q@%d", got.Stream, got.Version, want.Stream, want.Version)
	case got.Position != want.Position:
		return sprintf("%s@%d: position %v, want %v", want.Stream, want.Version, got.Position, want.Position)
	case got.ID != want.ID:
		return sprintf("%s@%d: ID %q, want %q", want.Stream, want.Version, got.ID, want.ID)
	case got.Type != want.Type:
		return sprintf("%s@%d: type %q, want %q", want.Stream, want.Version, got.Type, want.Type)
	case !bytes.Equal(got.Data, want.Data), (got.Data == nil) != (want.Data == nil):
		return sprintf("%s@%d: data %q, want %q", want.Stream, want.Version, got.Data, want.Data)
	case !bytes.Equal(got.Metadata, want.Metadata):
		return sprintf("%s@%d: metadata %s, want %s", want.Stream, want.Version, got.Metadata, want.Metadata)
	case !got.Time.Equal(want.Time), got.Time.Location() != want.Time.Location():
		return sprintf("%s@%d: time %v, want %v", want.Stream, want.Version, got.Time, want.Time)
	}
	return ""
}
