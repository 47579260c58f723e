package chronicle_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

// spanKey marks the context a Start hook returned, to check that the
// operation continues with it.
type spanKey struct{}

// recorder keeps what the hooks report.
type recorder struct {
	mu          sync.Mutex
	stores      []chronicle.StoreInfo
	appendStart []chronicle.AppendInfo
	appends     []chronicle.AppendDoneInfo
	reads       []chronicle.ReadDoneInfo
	snapshots   []chronicle.SnapshotDoneInfo
	watchStart  []chronicle.WatchInfo
	watchDone   []chronicle.WatchDoneInfo
	progress    []chronicle.WatchProgressInfo
	lostCtx     int // Done hooks that did not get their Start's context
}

func (r *recorder) hooks() *chronicle.Hooks {
	start := func(ctx context.Context) context.Context { return context.WithValue(ctx, spanKey{}, true) }
	done := func(ctx context.Context) {
		if ctx.Value(spanKey{}) == nil {
			r.lostCtx++
		}
	}
	h := &chronicle.Hooks{
		AppendStart: func(ctx context.Context, info chronicle.AppendInfo) context.Context {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.appendStart = append(r.appendStart, info)
			return start(ctx)
		},
		AppendDone: func(ctx context.Context, info chronicle.AppendDoneInfo) {
			r.mu.Lock()
			defer r.mu.Unlock()
			done(ctx)
			r.appends = append(r.appends, info)
		},
		ReadStart: func(ctx context.Context, info chronicle.ReadInfo) context.Context { return start(ctx) },
		ReadDone: func(ctx context.Context, info chronicle.ReadDoneInfo) {
			r.mu.Lock()
			defer r.mu.Unlock()
			done(ctx)
			r.reads = append(r.reads, info)
		},
		SnapshotStart: func(ctx context.Context, info chronicle.SnapshotInfo) context.Context { return start(ctx) },
		SnapshotDone: func(ctx context.Context, info chronicle.SnapshotDoneInfo) {
			r.mu.Lock()
			defer r.mu.Unlock()
			done(ctx)
			r.snapshots = append(r.snapshots, info)
		},
		WatchStart: func(ctx context.Context, info chronicle.WatchInfo) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.watchStart = append(r.watchStart, info)
		},
		WatchDone: func(ctx context.Context, info chronicle.WatchDoneInfo) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.watchDone = append(r.watchDone, info)
		},
		WatchProgress: func(ctx context.Context, info chronicle.WatchProgressInfo) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.progress = append(r.progress, info)
		},
	}
	return &chronicle.Hooks{ForStore: func(info chronicle.StoreInfo) *chronicle.Hooks {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stores = append(r.stores, info)
		return h
	}}
}

// openHooked opens an in-memory store that reports to a new recorder.
func openHooked(t *testing.T, pageSize int) (*chronicle.Store, *recorder) {
	t.Helper()
	r := &recorder{}
	s, err := sqlite.Open(t.Context(), "", &sqlite.Options{PageSize: pageSize, Hooks: r.hooks()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, r
}

func TestHooksForStore(t *testing.T) {
	s, r := openHooked(t, 0)
	if want := []chronicle.StoreInfo{{System: "sqlite"}}; !slices.Equal(r.stores, want) {
		t.Fatalf("ForStore got %+v, want %+v", r.stores, want)
	}
	if s.Hooks() == nil || s.Hooks().AppendDone == nil {
		t.Fatal("Store.Hooks is not the hooks ForStore returned")
	}
}

func TestHooksAppend(t *testing.T) {
	s, r := openHooked(t, 0)
	closed, err := sqlite.Open(t.Context(), "", &sqlite.Options{Hooks: s.Hooks()})
	if err != nil {
		t.Fatal(err)
	}
	_ = closed.Close()
	ctx := t.Context()
	two := []chronicle.EventData{
		{ID: "a", Type: "T", Data: []byte("123"), Metadata: []byte(`{"k":1}`)},
		{ID: "b", Type: "T", Data: []byte("45")},
	}
	for _, tc := range []struct {
		name     string
		store    *chronicle.Store
		stream   string
		expect   chronicle.Expectation
		events   []chronicle.EventData
		bytes    int
		written  int
		version  int64
		sentinel error
	}{
		{"written", s, "s-1", chronicle.NoStream, two, 12, 2, 2, nil},
		{"retry writes nothing", s, "s-1", chronicle.NoStream, two, 12, 0, 2, nil},
		{"conflict", s, "s-1", chronicle.Exactly(7), []chronicle.EventData{{Type: "T"}}, 0, 0, 0, chronicle.ErrConflict},
		{"invalid event", s, "s-1", chronicle.Any, []chronicle.EventData{{Data: []byte("x")}}, 1, 0, 0, chronicle.ErrInvalid},
		{"invalid stream", s, "", chronicle.Any, []chronicle.EventData{{Type: "T"}}, 0, 0, 0, chronicle.ErrInvalid},
		{"empty batch", s, "s-1", chronicle.Any, nil, 0, 0, 2, nil},
		{"closed", closed, "s-1", chronicle.Any, []chronicle.EventData{{Type: "T"}}, 0, 0, 0, chronicle.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(r.appends)
			_, err := tc.store.Append(ctx, tc.stream, tc.expect, tc.events...)
			if !errors.Is(err, tc.sentinel) || (tc.sentinel == nil) != (err == nil) {
				t.Fatalf("Append: %v, want %v", err, tc.sentinel)
			}
			if len(r.appends) != before+1 || len(r.appendStart) != before+1 {
				t.Fatalf("%d AppendStart and %d AppendDone calls, want one each", len(r.appendStart)-before, len(r.appends)-before)
			}
			got := r.appends[before]
			want := chronicle.AppendInfo{Stream: tc.stream, Expect: tc.expect, Events: len(tc.events), Bytes: tc.bytes}
			if got.AppendInfo != want || r.appendStart[before] != want {
				t.Errorf("info %+v (start %+v), want %+v", got.AppendInfo, r.appendStart[before], want)
			}
			if got.Result.Written != tc.written || got.Result.Version != tc.version || !errors.Is(got.Err, tc.sentinel) || got.Err != err {
				t.Errorf("done: written %d, version %d, err %v; want %d, %d, %v", got.Result.Written, got.Result.Version, got.Err,
					tc.written, tc.version, tc.sentinel)
			}
			if got.Duration <= 0 {
				t.Errorf("duration %v", got.Duration)
			}
		})
	}
	if r.lostCtx != 0 {
		t.Errorf("%d Done hooks did not get the context their Start returned", r.lostCtx)
	}
}

func TestHooksRead(t *testing.T) {
	s, r := openHooked(t, 2)
	ctx := t.Context()
	for i := range 5 {
		if _, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "T", Metadata: []byte(`{"i":` + string(rune('0'+i)) + `}`)}); err != nil {
			t.Fatal(err)
		}
	}
	at := chronicle.At
	for _, tc := range []struct {
		name string
		read func() error
		want []chronicle.ReadInfo
		n    []int
	}{
		{"stream", func() error { return drain(s.Read(ctx, "s", 0, nil)) },
			[]chronicle.ReadInfo{{Stream: "s", Limit: 2}, {Stream: "s", FromVersion: 2, Limit: 2}, {Stream: "s", FromVersion: 4, Limit: 2}},
			[]int{2, 2, 1}},
		{"stream backwards, limited", func() error {
			return drain(s.Read(ctx, "s", 0, &chronicle.ReadOptions{Backwards: true, Limit: 3}))
		},
			[]chronicle.ReadInfo{{Stream: "s", Backwards: true, Limit: 2}, {Stream: "s", FromVersion: 4, Backwards: true, Limit: 1}},
			[]int{2, 1}},
		{"global, filtered", func() error {
			return drain(s.ReadAll(ctx, at(1), &chronicle.ReadOptions{Filter: chronicle.Filter{chronicle.TypeIs("T")}}))
		},
			// Two full pages, then an empty one that tells the end.
			[]chronicle.ReadInfo{{FromPosition: at(1), Limit: 2, Filtered: true}, {FromPosition: at(3), Limit: 2, Filtered: true},
				{FromPosition: at(5), Limit: 2, Filtered: true}},
			[]int{2, 2, 0}},
		{"page", func() error { _, err := s.ReadAllPage(ctx, at(4), 10, nil); return err },
			[]chronicle.ReadInfo{{FromPosition: at(4), Limit: 10}}, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.reads = nil
			if err := tc.read(); err != nil {
				t.Fatal(err)
			}
			if len(r.reads) != len(tc.want) {
				t.Fatalf("%d pages reported, want %d: %+v", len(r.reads), len(tc.want), r.reads)
			}
			for i, got := range r.reads {
				if got.ReadInfo != tc.want[i] || got.Events != tc.n[i] || got.Err != nil || got.Duration <= 0 {
					t.Errorf("page %d: %+v, want %+v with %d events", i, got, tc.want[i], tc.n[i])
				}
			}
		})
	}
	if r.lostCtx != 0 {
		t.Errorf("%d Done hooks did not get the context their Start returned", r.lostCtx)
	}
}

func drain(seq func(func(chronicle.Event, error) bool)) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestHooksSnapshot(t *testing.T) {
	s, r := openHooked(t, 0)
	ctx := t.Context()
	res, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "T"}, chronicle.EventData{Type: "T"})
	if err != nil {
		t.Fatal(err)
	}
	head := res.Positions[1]
	for _, tc := range []struct {
		name     string
		call     func() error
		want     chronicle.SnapshotDoneInfo
		sentinel error
	}{
		{"save", func() error { return s.SaveSnapshot(ctx, "s", "", 2, []byte("state")) },
			chronicle.SnapshotDoneInfo{SnapshotInfo: chronicle.SnapshotInfo{Op: chronicle.SnapshotSave, Stream: "s", Name: "default", Version: 2, Bytes: 5}}, nil},
		{"save beyond the stream", func() error { return s.SaveSnapshot(ctx, "s", "x", 3, nil) },
			chronicle.SnapshotDoneInfo{SnapshotInfo: chronicle.SnapshotInfo{Op: chronicle.SnapshotSave, Stream: "s", Name: "x", Version: 3}}, chronicle.ErrVersionNotReached},
		{"save global", func() error { return s.SaveGlobalSnapshot(ctx, "g", head, []byte("gg")) },
			chronicle.SnapshotDoneInfo{SnapshotInfo: chronicle.SnapshotInfo{Op: chronicle.SnapshotSave, Name: "g", Position: head, Bytes: 2}}, nil},
		{"load", func() error { _, _, err := s.LoadSnapshot(ctx, "s", ""); return err },
			chronicle.SnapshotDoneInfo{SnapshotInfo: chronicle.SnapshotInfo{Op: chronicle.SnapshotLoad, Stream: "s", Name: "default"},
				Found: true, LoadedVersion: 2, LoadedBytes: 5}, nil},
		{"load global", func() error { _, _, err := s.LoadGlobalSnapshot(ctx, "g"); return err },
			chronicle.SnapshotDoneInfo{SnapshotInfo: chronicle.SnapshotInfo{Op: chronicle.SnapshotLoad, Name: "g"},
				Found: true, LoadedPosition: head, LoadedBytes: 2}, nil},
		{"load missing", func() error { _, _, err := s.LoadSnapshot(ctx, "s", "none"); return err },
			chronicle.SnapshotDoneInfo{SnapshotInfo: chronicle.SnapshotInfo{Op: chronicle.SnapshotLoad, Stream: "s", Name: "none"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.snapshots = nil
			if err := tc.call(); !errors.Is(err, tc.sentinel) || (tc.sentinel == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.sentinel)
			}
			if len(r.snapshots) != 1 {
				t.Fatalf("%d snapshot calls reported, want 1", len(r.snapshots))
			}
			got := r.snapshots[0]
			if !errors.Is(got.Err, tc.sentinel) || (tc.sentinel == nil) != (got.Err == nil) || got.Duration <= 0 {
				t.Errorf("err %v, duration %v", got.Err, got.Duration)
			}
			got.Err, got.Duration = nil, 0
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if r.lostCtx != 0 {
		t.Errorf("%d Done hooks did not get the context their Start returned", r.lostCtx)
	}
}

// TestHooksWatch: a watch reports its start, how far behind it is for each
// page of history and for live commits, and its end.
func TestHooksWatch(t *testing.T) {
	s, r := openHooked(t, 2)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range 5 {
		if _, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "T", Time: time.Now().Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	caughtUp := make(chan struct{})
	got := 0
	for _, err := range s.WatchAll(ctx, chronicle.Position{}, &chronicle.WatchOptions{CaughtUp: func() { close(caughtUp) }}) {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			break
		}
		if got++; got == 5 {
			go func() {
				<-caughtUp
				if _, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "T"}); err != nil {
					t.Error(err)
				}
			}()
		}
		if got == 6 {
			cancel()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := []chronicle.WatchInfo{{}}; !slices.Equal(r.watchStart, want) {
		t.Errorf("WatchStart %+v, want %+v", r.watchStart, want)
	}
	if len(r.watchDone) != 1 || r.watchDone[0].Events != 6 || !errors.Is(r.watchDone[0].Err, context.Canceled) {
		t.Errorf("WatchDone %+v, want 6 events and context.Canceled", r.watchDone)
	}
	// Three pages of history (5, 3 and 1 events behind the head, an hour
	// old), then the live commit, just made.
	want := []struct {
		behind int64
		live   bool
		old    bool
	}{{5, false, true}, {3, false, true}, {1, false, true}, {1, true, false}}
	if len(r.progress) != len(want) {
		t.Fatalf("WatchProgress %+v, want %d calls", r.progress, len(want))
	}
	for i, w := range want {
		p := r.progress[i]
		if p.Behind != w.behind || p.Live != w.live || (p.Lag > 30*time.Minute) != w.old || p.Lag < 0 {
			t.Errorf("progress %d: %+v, want behind %d, live %v, an hour old %v", i, p, w.behind, w.live, w.old)
		}
	}
	for _, rd := range r.reads {
		if !rd.Watch {
			t.Errorf("a watch's page read reported as not serving a watch: %+v", rd)
		}
	}
}

// TestHooksUnset: a store without hooks, or with hooks that set nothing,
// works as before.
func TestHooksUnset(t *testing.T) {
	for _, h := range []*chronicle.Hooks{nil, {}, {ForStore: func(chronicle.StoreInfo) *chronicle.Hooks { return nil }}} {
		s, err := sqlite.Open(t.Context(), "", &sqlite.Options{Hooks: h})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "T"}); err != nil {
			t.Fatal(err)
		}
		if err := drain(s.ReadAll(t.Context(), chronicle.Position{}, nil)); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSnapshot(t.Context(), "s", "", 1, nil); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	}
}
