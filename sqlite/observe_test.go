package sqlite

import (
	"slices"
	"sync"
	"testing"

	"github.com/chronicle-go/chronicle"
)

// TestHooksGroupCommit: a group commit reports the requests it answered,
// the appends that wrote and their events; a group that wrote nothing is
// not reported.
func TestHooksGroupCommit(t *testing.T) {
	var mu sync.Mutex
	var groups []chronicle.GroupCommitInfo
	hooks := &chronicle.Hooks{GroupCommit: func(info chronicle.GroupCommitInfo) {
		mu.Lock()
		defer mu.Unlock()
		if info.Duration <= 0 {
			t.Errorf("group duration %v", info.Duration)
		}
		info.Duration = 0
		groups = append(groups, info)
	}}
	s, b := openHooked(t, "", hooks)
	ctx := t.Context()
	if _, err := s.Append(ctx, "taken", chronicle.Any, chronicle.EventData{ID: "x", Type: "T"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "taken", chronicle.Any, chronicle.EventData{ID: "x", Type: "T"}); err != nil {
		t.Fatal(err) // a retry: nothing written, no group reported
	}

	release := holdWriter(t, b)
	writes := []func() error{
		func() error {
			three := []chronicle.EventData{{Type: "T"}, {Type: "T"}, {Type: "T"}}
			_, err := s.Append(ctx, "a", chronicle.Any, three...)
			return err
		},
		func() error {
			_, err := s.Append(ctx, "taken", chronicle.NoStream, chronicle.EventData{Type: "T"})
			return err
		},
		func() error {
			_, err := s.Append(ctx, "b", chronicle.Any, chronicle.EventData{Type: "T"}, chronicle.EventData{Type: "T"})
			return err
		},
		func() error { return s.SaveSnapshot(ctx, "a", "", 1, []byte("state")) },
	}
	errs := make(chan error, len(writes))
	for i, w := range writes {
		go func() { errs <- w() }()
		waitQueued(t, b, i+1)
	}
	release()
	failed := 0
	for range writes {
		if err := <-errs; err != nil {
			failed++ // the conflict
		}
	}
	if failed != 1 {
		t.Errorf("%d writes failed, want the conflict alone", failed)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []chronicle.GroupCommitInfo{
		{Writes: 1, Appends: 1, Events: 1},
		// The group of four: the conflict wrote nothing, the snapshot
		// is not an append.
		{Writes: 4, Appends: 2, Events: 5},
	}
	if !slices.Equal(groups, want) {
		t.Fatalf("groups %+v, want %+v", groups, want)
	}
}

// openHooked opens a store at path ("" in memory) that reports to hooks,
// closed when the test ends.
func openHooked(t *testing.T, path string, hooks *chronicle.Hooks) (*chronicle.Store, *Backend) {
	t.Helper()
	b, err := OpenBackend(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := chronicle.New(b, &chronicle.Options{Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, b
}
