package storetest

import (
	"slices"
	"testing"

	"github.com/chronicle-go/chronicle"
)

var appendTests = []test{
	{name: "Versions", run: testAppendVersions},
	{name: "EmptyBatch", run: testAppendEmptyBatch},
	{name: "Expectations", run: testAppendExpectations},
	{name: "NegativeExpectation", run: testAppendNegativeExpectation},
}

// testAppendVersions: versions are 1-based and contiguous; Append returns
// the new version, one increasing position per event written and how many
// it wrote.
func testAppendVersions(t *testing.T, s *chronicle.Store) {
	var positions []chronicle.Position
	for i, batch := range []int{1, 3, 1, 5} {
		before := len(positions)
		res := mustAppend(t, s, "v", chronicle.Any, events(batch, "Counted", sprintf("b%d", i))...)
		if want := int64(before + batch); res.Version != want {
			t.Fatalf("batch %d: Version %d, want %d", i, res.Version, want)
		}
		if len(res.Positions) != batch || res.Written != batch {
			t.Fatalf("batch %d: %d positions and %d written for %d events", i, len(res.Positions), res.Written, batch)
		}
		positions = append(positions, res.Positions...)
	}
	for i := 1; i < len(positions); i++ {
		if !positions[i-1].Before(positions[i]) {
			t.Fatalf("position %v returned after %v", positions[i], positions[i-1])
		}
	}
	got := readStream(t, s, "v", 0, nil)
	checkVersions(t, "Read", got, span(1, 10))
	for i, e := range got {
		if e.Position != positions[i] {
			t.Errorf("version %d: read position %v, Append returned %v", e.Version, e.Position, positions[i])
		}
	}
}

// testAppendEmptyBatch: an empty batch writes nothing and returns the
// stream's current version, without positions.
func testAppendEmptyBatch(t *testing.T, s *chronicle.Store) {
	res := mustAppend(t, s, "empty", chronicle.Any)
	if res.Version != 0 || len(res.Positions) != 0 || res.Written != 0 {
		t.Fatalf("empty batch on a missing stream: %+v, want version 0 and no positions", res)
	}
	mustAppend(t, s, "empty", chronicle.Any, ev("A"), ev("B"))
	res = mustAppend(t, s, "empty", chronicle.Any)
	if res.Version != 2 || len(res.Positions) != 0 || res.Written != 0 {
		t.Fatalf("empty batch: %+v, want version 2 and no positions", res)
	}
	if st := stats(t, s); st.Events != 2 || st.Streams != 1 {
		t.Fatalf("Stats after empty batches: %+v, want 2 events in 1 stream", st)
	}
}

// testAppendExpectations: every expectation passes and fails as documented;
// a failing one reports a *ConflictError and writes nothing.
func testAppendExpectations(t *testing.T, s *chronicle.Store) {
	cases := []struct {
		name   string
		before int // events in the stream before the append
		expect chronicle.Expectation
		ok     bool
	}{
		{"AnyOnMissing", 0, chronicle.Any, true},
		{"AnyOnExisting", 2, chronicle.Any, true},
		{"NoStreamOnMissing", 0, chronicle.NoStream, true},
		{"NoStreamOnExisting", 2, chronicle.NoStream, false},
		{"StreamExistsOnMissing", 0, chronicle.StreamExists, false},
		{"StreamExistsOnExisting", 2, chronicle.StreamExists, true},
		{"Exactly0OnMissing", 0, chronicle.Exactly(0), true},
		{"Exactly0OnExisting", 2, chronicle.Exactly(0), false},
		{"ExactlyCurrent", 2, chronicle.Exactly(2), true},
		{"ExactlyBehind", 2, chronicle.Exactly(1), false},
		{"ExactlyAhead", 2, chronicle.Exactly(3), false},
		{"ExactlyOnMissing", 0, chronicle.Exactly(1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := "expect-" + tc.name
			if tc.before > 0 {
				mustAppend(t, s, stream, chronicle.Any, events(tc.before, "Before", "before")...)
			}
			st := stats(t, s)
			res, err := s.Append(testCtx(t), stream, tc.expect, ev("Tried"), ev("Tried"))
			if tc.ok {
				if err != nil {
					t.Fatalf("Append with %v on version %d: %v", tc.expect, tc.before, err)
				}
				if want := int64(tc.before + 2); res.Version != want || len(res.Positions) != 2 || res.Written != 2 {
					t.Fatalf("Append: %+v, want version %d, 2 positions and 2 written", res, want)
				}
				return
			}
			wantConflict(t, "Append", err, stream, tc.expect, int64(tc.before))
			if res.Version != 0 || len(res.Positions) != 0 || res.Written != 0 {
				t.Errorf("failed Append returned %+v, want the zero result", res)
			}
			if got := stats(t, s); got.Events != st.Events {
				t.Fatalf("failed Append changed the event count from %d to %d", st.Events, got.Events)
			}
			if info := streamInfo(t, s, stream); info.Version != int64(tc.before) {
				t.Fatalf("failed Append moved the stream to version %d", info.Version)
			}
		})
	}
}

// testAppendNegativeExpectation: Exactly(-1) is rejected before anything
// is written.
func testAppendNegativeExpectation(t *testing.T, s *chronicle.Store) {
	_, err := s.Append(testCtx(t), "neg", chronicle.Exactly(-1), ev("A"))
	wantInvalid(t, "Append with Exactly(-1)", err)
	if st := stats(t, s); st.Events != 0 {
		t.Fatalf("rejected Append wrote %d events", st.Events)
	}
}

var idempotencyTests = []test{
	{name: "RetryWritesNothing", run: testIdemRetry},
	{name: "Positions", run: testIdemPositions},
	{name: "DuplicatesInBatch", run: testIdemBatchDuplicates},
	{name: "RetryIgnoresExpectation", run: testIdemRetryExpectation},
	{name: "PartialOverlap", run: testIdemPartial},
	{name: "OtherStream", run: testIdemOtherStream},
	{name: "GeneratedIDs", run: testIdemGeneratedIDs},
	{name: "GeneratedIDReused", run: testIdemGeneratedReused},
	{name: "UnkeyedAlwaysWritten", run: testIdemUnkeyed},
}

// testIdemRetry: an event whose ID is in the stream is not written again,
// whatever its content; the retry reports the position it was stored at.
func testIdemRetry(t *testing.T, s *chronicle.Store) {
	first := mustAppend(t, s, "r", chronicle.Any, chronicle.EventData{ID: "a", Type: "A", Data: []byte("first")})
	res := mustAppend(t, s, "r", chronicle.Any, chronicle.EventData{ID: "a", Type: "Other", Data: []byte("second")})
	if res.Version != 1 || res.Written != 0 || !slices.Equal(res.Positions, first.Positions) {
		t.Fatalf("retry: %+v, want version 1, nothing written and the first append's positions %v", res, first.Positions)
	}
	got := readStream(t, s, "r", 0, nil)
	if len(got) != 1 || got[0].Type != "A" || string(got[0].Data) != "first" {
		t.Fatalf("after the retry the stream holds %v %q", ids(got), datas(got))
	}
}

// testIdemPositions: Append reports one position per event given, in
// order: for an event already in the stream the position it was stored at,
// for an event written its new one, for an ID repeated in the batch the
// one stored copy's; Written counts the events written; and the positions
// are those Read and ReadAll return for the events.
func testIdemPositions(t *testing.T, s *chronicle.Store) {
	a, b, c, d := keyed("a", "A"), keyed("b", "B"), keyed("c", "C"), keyed("d", "D")
	x, y := ev("X"), ev("Y")
	type batch = []chronicle.EventData
	const o, n = true, false // per event of the batch: found in the stream (o) or new (n)
	cases := []struct {
		name    string
		before  batch // appended first, with Any
		expect  chronicle.Expectation
		batch   batch
		version int64 // the stream's version after the append
		written int
		found   []bool
	}{
		{"Fresh", nil, chronicle.NoStream, batch{a, x, b}, 3, 3, []bool{n, n, n}},
		{"FullDuplicate", batch{a, b}, chronicle.Exactly(2), batch{a, b}, 2, 0, []bool{o, o}},
		{"FullDuplicateReordered", batch{a, b, c}, chronicle.Any, batch{c, a}, 3, 0, []bool{o, o}},
		{"FullDuplicateNoStream", batch{a, b}, chronicle.NoStream, batch{a, b}, 2, 0, []bool{o, o}},
		{"FullDuplicateStaleVersion", batch{a, b, c}, chronicle.Exactly(1), batch{b}, 3, 0, []bool{o}},
		{"PartialDuplicate", batch{a, b}, chronicle.Exactly(2), batch{b, c, a, d}, 4, 2, []bool{o, n, o, n}},
		{"PartialWithUnkeyed", batch{a}, chronicle.StreamExists, batch{x, a, y}, 3, 2, []bool{n, o, n}},
		{"RepeatInFreshBatch", nil, chronicle.NoStream, batch{a, b, a, c, b}, 3, 3, []bool{n, n, n, n, n}},
		{"RepeatInFullDuplicate", batch{a, b}, chronicle.Exactly(0), batch{a, a, b, a}, 2, 0, []bool{o, o, o, o}},
		{"RepeatInPartialDuplicate", batch{a}, chronicle.Exactly(1), batch{b, a, b, x}, 3, 2, []bool{n, o, n, n}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := "pos-" + tc.name
			stored := make(map[string]chronicle.Position) // keyed ID -> where the first append put it
			if len(tc.before) > 0 {
				res := mustAppend(t, s, stream, chronicle.Any, tc.before...)
				for i, e := range tc.before {
					stored[e.ID] = res.Positions[i]
				}
			}
			head := stats(t, s).Head
			res := mustAppend(t, s, stream, tc.expect, tc.batch...)
			if res.Version != tc.version || res.Written != tc.written || len(res.Positions) != len(tc.batch) {
				t.Fatalf("Append: %+v, want version %d, %d written and %d positions", res, tc.version, tc.written, len(tc.batch))
			}

			got := readStream(t, s, stream, 0, nil)
			all := readAll(t, s, chronicle.Position{}, &chronicle.ReadOptions{Filter: chronicle.Filter{chronicle.StreamIs(stream)}})
			if len(got) != int(tc.version) || len(all) != len(got) {
				t.Fatalf("Read returned %d events and ReadAll %d, want %d", len(got), len(all), tc.version)
			}
			at := make(map[string]chronicle.Position) // keyed ID -> position read
			for i, e := range got {
				if all[i].ID != e.ID || all[i].Position != e.Position {
					t.Fatalf("version %d: Read has %q at %v, ReadAll %q at %v", e.Version, e.ID, e.Position, all[i].ID, all[i].Position)
				}
				at[e.ID] = e.Position
			}

			// The events written are the stream's last, in the order of
			// their first appearance in the batch.
			var wrote []int // indexes into tc.batch
			first := make(map[string]bool)
			for i, e := range tc.batch {
				p := res.Positions[i]
				if e.ID != "" && p != at[e.ID] {
					t.Errorf("event %d (%s): position %v, but Read has %q at %v", i, e.ID, p, e.ID, at[e.ID])
				}
				if tc.found[i] {
					if p != stored[e.ID] {
						t.Errorf("event %d (%s), already in the stream: position %v, want %v where it was stored", i, e.ID, p, stored[e.ID])
					}
					continue
				}
				if !head.Before(p) {
					t.Errorf("event %d (%s), written: position %v is not after the head %v before the append", i, e.ID, p, head)
				}
				if e.ID != "" {
					if first[e.ID] {
						continue
					}
					first[e.ID] = true
				}
				wrote = append(wrote, i)
			}
			if len(wrote) != tc.written {
				t.Fatalf("%d distinct events written, want %d", len(wrote), tc.written)
			}
			for j, i := range wrote {
				e := got[len(got)-tc.written+j]
				if e.Position != res.Positions[i] || e.Type != tc.batch[i].Type {
					t.Errorf("version %d: %s at %v, want event %d (%s) at the position Append returned, %v",
						e.Version, e.Type, e.Position, i, tc.batch[i].Type, res.Positions[i])
				}
			}
		})
	}
}

// testIdemBatchDuplicates: the first of several events with one ID in a
// batch is written, once, and every copy reports its position.
func testIdemBatchDuplicates(t *testing.T, s *chronicle.Store) {
	res := mustAppend(t, s, "d", chronicle.NoStream,
		chronicle.EventData{ID: "a", Type: "A", Data: []byte("a1")},
		chronicle.EventData{ID: "b", Type: "B", Data: []byte("b")},
		chronicle.EventData{ID: "a", Type: "A", Data: []byte("a2")},
		chronicle.EventData{ID: "c", Type: "C", Data: []byte("c")},
		chronicle.EventData{ID: "b", Type: "B", Data: []byte("b2")},
	)
	if res.Version != 3 || res.Written != 3 || len(res.Positions) != 5 {
		t.Fatalf("Append: %+v, want version 3, 3 written and 5 positions", res)
	}
	got := readStream(t, s, "d", 0, nil)
	if !slices.Equal(ids(got), []string{"a", "b", "c"}) || !slices.Equal(datas(got), []string{"a1", "b", "c"}) {
		t.Fatalf("stream holds IDs %v with data %q, want a b c with a1 b c", ids(got), datas(got))
	}
	want := []chronicle.Position{got[0].Position, got[1].Position, got[0].Position, got[2].Position, got[1].Position}
	if !slices.Equal(res.Positions, want) {
		t.Fatalf("positions %v, want %v", res.Positions, want)
	}
}

// testIdemRetryExpectation: retrying a batch that was fully written
// succeeds with the current version and the original positions even when
// its expectation no longer holds.
func testIdemRetryExpectation(t *testing.T, s *chronicle.Store) {
	batch := []chronicle.EventData{keyed("a", "A"), keyed("b", "B")}
	orig := mustAppend(t, s, "x", chronicle.NoStream, batch...)
	for _, exp := range []chronicle.Expectation{chronicle.NoStream, chronicle.Exactly(0), chronicle.Exactly(7), chronicle.StreamExists, chronicle.Any} {
		res, err := s.Append(testCtx(t), "x", exp, batch...)
		if err != nil || res.Version != 2 || res.Written != 0 || !slices.Equal(res.Positions, orig.Positions) {
			t.Fatalf("retry with %v: %+v, %v; want version 2, nothing written, positions %v, no error", exp, res, err, orig.Positions)
		}
	}
	mustAppend(t, s, "x", chronicle.Exactly(2), keyed("c", "C"))
	res, err := s.Append(testCtx(t), "x", chronicle.Exactly(0), batch[1])
	if err != nil || res.Version != 3 || res.Written != 0 || !slices.Equal(res.Positions, orig.Positions[1:]) {
		t.Fatalf("late retry of one event: %+v, %v; want version 3, nothing written, positions %v", res, err, orig.Positions[1:])
	}
	checkVersions(t, "Read", readStream(t, s, "x", 0, nil), span(1, 3))
}

// testIdemPartial: duplicates are dropped and the expectation applies to
// the rest of the batch; the duplicates report where they were stored.
func testIdemPartial(t *testing.T, s *chronicle.Store) {
	first := mustAppend(t, s, "p", chronicle.Any, keyed("a", "A"), keyed("b", "B"))

	res, err := s.Append(testCtx(t), "p", chronicle.Exactly(2), keyed("b", "B"), keyed("c", "C"))
	if err != nil || res.Version != 3 || res.Written != 1 || len(res.Positions) != 2 || res.Positions[0] != first.Positions[1] {
		t.Fatalf("append b, c at 2: %+v, %v; want version 3, one written, b at %v", res, err, first.Positions[1])
	}
	c := res.Positions[1]

	// The stream is at 3 now: a stale expectation conflicts, and d is not written.
	_, err = s.Append(testCtx(t), "p", chronicle.Exactly(2), keyed("c", "C"), keyed("d", "D"))
	wantConflict(t, "append c, d at stale 2", err, "p", chronicle.Exactly(2), 3)
	_, err = s.Append(testCtx(t), "p", chronicle.NoStream, keyed("a", "A"), keyed("d", "D"))
	wantConflict(t, "append a, d with NoStream", err, "p", chronicle.NoStream, 3)
	if got := ids(readStream(t, s, "p", 0, nil)); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("after conflicts the stream holds %v, want a b c", got)
	}

	res, err = s.Append(testCtx(t), "p", chronicle.Exactly(3), keyed("c", "C"), keyed("d", "D"))
	if err != nil || res.Version != 4 || res.Written != 1 || len(res.Positions) != 2 || res.Positions[0] != c || !c.Before(res.Positions[1]) {
		t.Fatalf("append c, d at 3: %+v, %v; want version 4, one written, c at %v and d after it", res, err, c)
	}
	if got := ids(readStream(t, s, "p", 0, nil)); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("stream holds %v, want a b c d", got)
	}
}

// testIdemOtherStream: IDs are unique per stream, not per store.
func testIdemOtherStream(t *testing.T, s *chronicle.Store) {
	r1 := mustAppend(t, s, "one", chronicle.Any, keyed("same", "A"))
	r2 := mustAppend(t, s, "two", chronicle.Any, keyed("same", "A"))
	if r1.Written != 1 || r2.Written != 1 || len(r1.Positions) != 1 || len(r2.Positions) != 1 || r1.Positions[0] == r2.Positions[0] {
		t.Fatalf("appends returned %+v and %+v, want one event written by each, at two positions", r1, r2)
	}
	all := readAll(t, s, chronicle.Position{}, nil)
	if len(all) != 2 || all[0].ID != "same" || all[1].ID != "same" || all[0].Stream == all[1].Stream {
		t.Fatalf("global stream: %v in streams %q, %q", ids(all), all[0].Stream, all[len(all)-1].Stream)
	}
}

// testIdemGeneratedIDs: events without ID get distinct UUIDv7s, increasing
// within a batch.
func testIdemGeneratedIDs(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "g", chronicle.Any, events(20, "G", "g")...)
	mustAppend(t, s, "g", chronicle.Any, events(20, "G", "h")...)
	got := readStream(t, s, "g", 0, nil)
	seen := make(map[string]bool)
	for i, e := range got {
		if !isUUIDv7(e.ID) {
			t.Fatalf("event %d: ID %q is not a UUIDv7", e.Version, e.ID)
		}
		if seen[e.ID] {
			t.Fatalf("event %d: ID %q assigned twice", e.Version, e.ID)
		}
		seen[e.ID] = true
		if i%20 != 0 && got[i-1].ID >= e.ID {
			t.Fatalf("event %d: ID %q does not sort after %q of the same batch", e.Version, e.ID, got[i-1].ID)
		}
	}
}

// isUUIDv7 reports whether id looks like a canonical UUID of version 7.
func isUUIDv7(id string) bool {
	if len(id) != 36 || id[14] != '7' || !bytesIn(id[19], "89ab") {
		return false
	}
	for i := range len(id) {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if id[i] != '-' {
				return false
			}
		} else if !bytesIn(id[i], "0123456789abcdef") {
			return false
		}
	}
	return true
}

func bytesIn(c byte, set string) bool {
	for i := range len(set) {
		if set[i] == c {
			return true
		}
	}
	return false
}

// testIdemGeneratedIDReused: idempotency keys are the IDs callers set. An
// ID the store assigned is not a key: appending an event that carries it
// writes the event (once; from then on it is a key like any other).
func testIdemGeneratedReused(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "gr", chronicle.Any, ev("A"))
	id := readStream(t, s, "gr", 0, nil)[0].ID
	res := mustAppend(t, s, "gr", chronicle.Any, keyed(id, "A"))
	if res.Version != 2 || res.Written != 1 || len(res.Positions) != 1 {
		t.Fatalf("append with the assigned ID %q: %+v, want version 2 and one event written", id, res)
	}
	second := res.Positions[0]
	res = mustAppend(t, s, "gr", chronicle.Any, keyed(id, "A"))
	if res.Version != 2 || res.Written != 0 || !slices.Equal(res.Positions, []chronicle.Position{second}) {
		t.Fatalf("retry with the now caller-given ID %q: %+v, want version 2, nothing written, position %v", id, res, second)
	}
}

// testIdemUnkeyed: events without ID are written on every append; keyed
// ones in the same batch are not.
func testIdemUnkeyed(t *testing.T, s *chronicle.Store) {
	batch := []chronicle.EventData{keyed("k", "K"), ev("U"), ev("U")}
	first := mustAppend(t, s, "u", chronicle.Any, batch...)
	res := mustAppend(t, s, "u", chronicle.Any, batch...)
	if res.Version != 5 || res.Written != 2 || len(res.Positions) != 3 || res.Positions[0] != first.Positions[0] {
		t.Fatalf("second append: %+v, want version 5, 2 written, k at %v", res, first.Positions[0])
	}
}
