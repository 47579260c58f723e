package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

var snapshotTests = []test{
	{name: "RoundTrip", run: testSnapshotRoundTrip},
	{name: "Names", run: testSnapshotNames},
	{name: "LatestWins", run: testSnapshotLatestWins},
	{name: "VersionNotReached", run: testSnapshotNotReached},
	{name: "Invalid", run: testSnapshotInvalid},
	{name: "NotFound", run: testSnapshotNotFound},
	{name: "Global", run: testSnapshotGlobal},
}

func loadSnapshot(t *testing.T, s *chronicle.Store, stream, name string) chronicle.Snapshot {
	t.Helper()
	snap, found, err := s.LoadSnapshot(testCtx(t), stream, name)
	if err != nil || !found {
		t.Fatalf("LoadSnapshot(%q, %q): found %v, %v", stream, name, found, err)
	}
	return snap
}

func saveSnapshot(t *testing.T, s *chronicle.Store, stream, name string, version int64, state string) {
	t.Helper()
	if err := s.SaveSnapshot(testCtx(t), stream, name, version, []byte(state)); err != nil {
		t.Fatalf("SaveSnapshot(%q, %q, %d): %v", stream, name, version, err)
	}
}

// testSnapshotRoundTrip: a snapshot loads as saved; "" names the default.
func testSnapshotRoundTrip(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "acct", chronicle.Any, events(5, "E", "a")...)
	state := []byte{0, 1, 2, 0, 0xff, '{', '}', 0}
	before := time.Now()
	if err := s.SaveSnapshot(testCtx(t), "acct", "", 3, state); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	state[0] = 9 // the store keeps its own copy
	for _, name := range []string{"", chronicle.DefaultSnapshotName} {
		snap := loadSnapshot(t, s, "acct", name)
		if snap.Stream != "acct" || snap.Name != chronicle.DefaultSnapshotName || snap.Version != 3 {
			t.Fatalf("LoadSnapshot(%q) = %q/%q@%d, want acct/%s@3", name, snap.Stream, snap.Name, snap.Version, chronicle.DefaultSnapshotName)
		}
		if !bytes.Equal(snap.State, []byte{0, 1, 2, 0, 0xff, '{', '}', 0}) {
			t.Fatalf("state %v did not round-trip", snap.State)
		}
		if snap.Time.Location() != time.UTC || snap.Time.Before(before.Add(-time.Second)) || snap.Time.After(after.Add(time.Second)) {
			t.Fatalf("snapshot time %v, want the save time (%v to %v) in UTC", snap.Time, before, after)
		}
		snap.State[0] = 7 // and hands out copies
	}
	saveSnapshot(t, s, "acct", "", 5, "")
	if snap := loadSnapshot(t, s, "acct", ""); snap.Version != 5 || len(snap.State) != 0 {
		t.Fatalf("empty state: loaded version %d with %d bytes", snap.Version, len(snap.State))
	}
	if err := s.SaveSnapshot(testCtx(t), "acct", "nil", 5, nil); err != nil {
		t.Fatalf("SaveSnapshot with nil state: %v", err)
	}
	if snap := loadSnapshot(t, s, "acct", "nil"); snap.Version != 5 || len(snap.State) != 0 {
		t.Fatalf("nil state: loaded version %d with %d bytes", snap.Version, len(snap.State))
	}
}

// testSnapshotNames: snapshots under different names are independent.
func testSnapshotNames(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "n", chronicle.Any, events(4, "E", "n")...)
	mustAppend(t, s, "m", chronicle.Any, events(4, "E", "m")...)
	saveSnapshot(t, s, "n", "a", 2, "n-a")
	saveSnapshot(t, s, "n", "b", 4, "n-b")
	saveSnapshot(t, s, "n", "", 1, "n-default")
	saveSnapshot(t, s, "m", "a", 3, "m-a")
	saveSnapshot(t, s, "n", "订单 ü", 1, "unicode")
	for _, c := range []struct {
		stream, name string
		version      int64
		state        string
	}{
		{"n", "a", 2, "n-a"},
		{"n", "b", 4, "n-b"},
		{"n", "", 1, "n-default"},
		{"m", "a", 3, "m-a"},
		{"n", "订单 ü", 1, "unicode"},
	} {
		snap := loadSnapshot(t, s, c.stream, c.name)
		if snap.Version != c.version || string(snap.State) != c.state {
			t.Fatalf("snapshot %s/%s = @%d %q, want @%d %q", c.stream, c.name, snap.Version, snap.State, c.version, c.state)
		}
	}
}

// testSnapshotLatestWins: a newer snapshot replaces an older one; an older
// one saved later is ignored.
func testSnapshotLatestWins(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "l", chronicle.Any, events(6, "E", "l")...)
	saveSnapshot(t, s, "l", "", 2, "v2")
	saveSnapshot(t, s, "l", "", 4, "v4")
	if snap := loadSnapshot(t, s, "l", ""); snap.Version != 4 || string(snap.State) != "v4" {
		t.Fatalf("after saving 2 then 4: @%d %q", snap.Version, snap.State)
	}
	saveSnapshot(t, s, "l", "", 3, "v3") // older: ignored, without error
	if snap := loadSnapshot(t, s, "l", ""); snap.Version != 4 || string(snap.State) != "v4" {
		t.Fatalf("after saving the older 3: @%d %q, want @4 v4", snap.Version, snap.State)
	}
	saveSnapshot(t, s, "l", "", 6, "v6")
	if snap := loadSnapshot(t, s, "l", ""); snap.Version != 6 || string(snap.State) != "v6" {
		t.Fatalf("after saving 6: @%d %q", snap.Version, snap.State)
	}
}

// testSnapshotNotReached: a snapshot beyond its stream's version fails
// with ErrVersionNotReached and is not stored.
func testSnapshotNotReached(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "r", chronicle.Any, events(5, "E", "r")...)
	saveSnapshot(t, s, "r", "", 5, "at-end")
	wantErr(t, "snapshot at 6 of 5", s.SaveSnapshot(testCtx(t), "r", "", 6, []byte("x")), chronicle.ErrVersionNotReached)
	wantErr(t, "snapshot at 100 of 5", s.SaveSnapshot(testCtx(t), "r", "other", 100, []byte("x")), chronicle.ErrVersionNotReached)
	wantErr(t, "snapshot of a missing stream", s.SaveSnapshot(testCtx(t), "missing", "", 1, []byte("x")), chronicle.ErrVersionNotReached)
	if snap := loadSnapshot(t, s, "r", ""); snap.Version != 5 || string(snap.State) != "at-end" {
		t.Fatalf("failed save changed the snapshot to @%d %q", snap.Version, snap.State)
	}
	if _, found, err := s.LoadSnapshot(testCtx(t), "r", "other"); found || err != nil {
		t.Fatalf("failed save stored a snapshot: found %v, %v", found, err)
	}
}

// testSnapshotInvalid: bad versions and names are rejected.
func testSnapshotInvalid(t *testing.T, s *chronicle.Store) {
	ctx := testCtx(t)
	mustAppend(t, s, "i", chronicle.Any, ev("E"))
	wantInvalid(t, "negative version", s.SaveSnapshot(ctx, "i", "", -1, []byte("x")))
	wantInvalid(t, "control character in name", s.SaveSnapshot(ctx, "i", "a\nb", 1, []byte("x")))
	_, _, err := s.LoadSnapshot(ctx, "i", "a\x00b")
	wantInvalid(t, "LoadSnapshot control character in name", err)
	wantInvalid(t, "global snapshot at EndPosition", s.SaveGlobalSnapshot(ctx, "", chronicle.EndPosition(), []byte("x")))
	wantInvalid(t, "global snapshot with a bad name", s.SaveGlobalSnapshot(ctx, "a\x7f", chronicle.Position{}, []byte("x")))
	if _, found, err := s.LoadSnapshot(ctx, "i", ""); found || err != nil {
		t.Fatalf("rejected saves stored a snapshot: found %v, %v", found, err)
	}
}

// testSnapshotNotFound: loading a snapshot that was never saved finds
// nothing, without error.
func testSnapshotNotFound(t *testing.T, s *chronicle.Store) {
	ctx := testCtx(t)
	mustAppend(t, s, "f", chronicle.Any, events(2, "E", "f")...)
	saveSnapshot(t, s, "f", "a", 1, "x")
	for _, c := range []struct{ stream, name string }{{"f", ""}, {"f", "b"}, {"missing", "a"}, {"missing", ""}} {
		snap, found, err := s.LoadSnapshot(ctx, c.stream, c.name)
		if err != nil || found {
			t.Fatalf("LoadSnapshot(%q, %q): found %v, %v; want nothing", c.stream, c.name, found, err)
		}
		if snap.Version != 0 || len(snap.State) != 0 {
			t.Fatalf("LoadSnapshot(%q, %q) found nothing but returned %+v", c.stream, c.name, snap)
		}
	}
	if _, found, err := s.LoadGlobalSnapshot(ctx, "a"); err != nil || found {
		t.Fatalf("LoadGlobalSnapshot: found %v, %v; want nothing", found, err)
	}
}

// testSnapshotGlobal: global snapshots are saved at positions, kept apart
// from stream snapshots, and follow the same rules.
func testSnapshotGlobal(t *testing.T, s *chronicle.Store) {
	ctx := testCtx(t)
	for i := range 4 {
		mustAppend(t, s, sprintf("g%d", i%2), chronicle.Any, ev("E"))
	}
	all := readAll(t, s, chronicle.Position{}, nil)
	head := all[len(all)-1].Position
	save := func(name string, pos chronicle.Position, state string) {
		t.Helper()
		if err := s.SaveGlobalSnapshot(ctx, name, pos, []byte(state)); err != nil {
			t.Fatalf("SaveGlobalSnapshot(%q, %v): %v", name, pos, err)
		}
	}
	load := func(name string) chronicle.Snapshot {
		t.Helper()
		snap, found, err := s.LoadGlobalSnapshot(ctx, name)
		if err != nil || !found {
			t.Fatalf("LoadGlobalSnapshot(%q): found %v, %v", name, found, err)
		}
		return snap
	}

	save("proj", all[1].Position, "at-1")
	snap := load("proj")
	if snap.Stream != "" || snap.Name != "proj" || snap.Position != all[1].Position || string(snap.State) != "at-1" {
		t.Fatalf("global snapshot = %+v", snap)
	}
	if snap.Time.Location() != time.UTC || snap.Time.IsZero() {
		t.Fatalf("global snapshot time %v, want a UTC time", snap.Time)
	}
	save("proj", head, "at-head")
	save("proj", all[2].Position, "older") // ignored
	if snap := load("proj"); snap.Position != head || string(snap.State) != "at-head" {
		t.Fatalf("latest global snapshot = %v %q, want %v at-head", snap.Position, snap.State, head)
	}

	save("", all[0].Position, "default")
	if snap := load(chronicle.DefaultSnapshotName); snap.Position != all[0].Position || string(snap.State) != "default" {
		t.Fatalf("default global snapshot = %v %q", snap.Position, snap.State)
	}

	beyond := next(head)
	wantErr(t, "global snapshot beyond the head", s.SaveGlobalSnapshot(ctx, "far", beyond, []byte("x")), chronicle.ErrVersionNotReached)
	if _, found, err := s.LoadGlobalSnapshot(ctx, "far"); found || err != nil {
		t.Fatalf("failed global save stored a snapshot: found %v, %v", found, err)
	}

	// Stream snapshots with the same name are separate.
	saveSnapshot(t, s, "g0", "proj", 1, "stream")
	if snap := load("proj"); string(snap.State) != "at-head" {
		t.Fatalf("a stream snapshot replaced the global one: %q", snap.State)
	}
	if snap := loadSnapshot(t, s, "g0", "proj"); string(snap.State) != "stream" || snap.Version != 1 {
		t.Fatalf("stream snapshot = @%d %q", snap.Version, snap.State)
	}
}
