package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

// batchOp is one write of TestBatchMatchesOneByOne: an append, or a
// snapshot (which ends a run of batched appends).
type batchOp struct {
	append   *chronicle.AppendParams
	snapshot *chronicle.Snapshot
}

// batchOutcome is what a write returned, in a form that compares.
type batchOutcome struct {
	Res chronicle.AppendResult
	Err string
}

func outcome(res chronicle.AppendResult, err error) batchOutcome {
	if err != nil {
		return batchOutcome{Err: err.Error()}
	}
	return batchOutcome{Res: res}
}

// randomOps makes n writes over a few streams with IDs from a small pool,
// so that groups hold appends to the same stream, repeated IDs (within the
// group, and of events stored before it) and expectations that fail. The
// append at faulty (if any) repeats an ID within itself.
func randomOps(rng *rand.Rand, n, faulty int, t0 time.Time) []batchOp {
	streams := []string{"a", "b", "c"}
	ops := make([]batchOp, n)
	for i := range ops {
		stream := streams[rng.IntN(len(streams))]
		if rng.IntN(10) == 0 {
			ops[i].snapshot = &chronicle.Snapshot{Stream: stream, Name: "s", Version: int64(rng.IntN(4)), State: []byte("x"), Time: t0}
			continue
		}
		var expect chronicle.Expectation
		switch rng.IntN(4) {
		case 0:
			expect = chronicle.Any
		case 1:
			expect = chronicle.NoStream
		case 2:
			expect = chronicle.StreamExists
		default:
			expect = chronicle.Exactly(int64(rng.IntN(6)))
		}
		events := make([]chronicle.PreparedEvent, 1+rng.IntN(3))
		for j := range events {
			e := chronicle.PreparedEvent{
				ID:   fmt.Sprintf("gen-%d-%d", i, j),
				Type: "T",
				Data: []byte(fmt.Sprintf("%d/%d", i, j)),
				Time: t0.Add(time.Duration(i*10+j) * time.Millisecond),
			}
			if rng.IntN(2) == 0 {
				e.ID, e.Keyed = fmt.Sprintf("key-%d", rng.IntN(12)+j*100), true // unique within the append
			}
			events[j] = e
		}
		if faulty == i {
			// An ID repeated within one append, which the Store never
			// passes: its INSERT fails, and the group runs again one by one.
			expect = chronicle.Any
			events = append(events, chronicle.PreparedEvent{ID: "twice", Keyed: true, Type: "T", Time: t0},
				chronicle.PreparedEvent{ID: "twice", Keyed: true, Type: "T", Time: t0})
		}
		ops[i].append = &chronicle.AppendParams{Stream: stream, Expect: expect, Events: events}
	}
	return ops
}

func runOp(ctx context.Context, b *Backend, op batchOp) batchOutcome {
	if op.snapshot != nil {
		return outcome(chronicle.AppendResult{}, b.SaveSnapshot(ctx, op.snapshot))
	}
	return outcome(b.Append(ctx, op.append))
}

// dump is a store's whole content: every event in order, and the row and
// snapshot of each of streams.
func dump(t *testing.T, b *Backend, streams []string) (events []chronicle.Event, infos []chronicle.StreamInfo, snaps []chronicle.Snapshot) {
	t.Helper()
	ctx := t.Context()
	res, err := b.ReadAll(ctx, &chronicle.ReadAllParams{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range streams {
		info, err := b.StreamInfo(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		snap, _, err := b.LoadSnapshot(ctx, s, "s")
		if err != nil {
			t.Fatal(err)
		}
		infos, snaps = append(infos, info), append(snaps, snap)
	}
	return res.Events, infos, snaps
}

// batchCounts is what the grouped store of compareGrouped did.
type batchCounts struct{ groups, batched, reruns int64 }

// compareGrouped runs before one by one on two stores, then ops as one
// group on the first (so that its consecutive appends run as batches) and
// one by one on the second, and fails the test unless every write returned
// the same and the stores hold the same events, stream rows (of streams)
// and snapshots.
func compareGrouped(t *testing.T, before, ops []batchOp, streams []string) batchCounts {
	t.Helper()
	ctx := t.Context()
	_, grouped := openStore(t)
	_, alone := openStore(t)
	for _, op := range before {
		runOp(ctx, grouped, op)
		runOp(ctx, alone, op)
	}
	at := batchCounts{grouped.groups.Load(), grouped.batched.Load(), grouped.batchReruns.Load()}

	release := holdWriter(t, grouped)
	got := make([]batchOutcome, len(ops))
	finished := make(chan struct{})
	for i, op := range ops {
		go func() {
			got[i] = runOp(ctx, grouped, op)
			finished <- struct{}{}
		}()
		waitQueued(t, grouped, i+1) // the group runs them in this order
	}
	release()
	for range ops {
		<-finished
	}
	did := batchCounts{grouped.groups.Load() - at.groups, grouped.batched.Load() - at.batched, grouped.batchReruns.Load() - at.reruns}

	for i, op := range ops {
		if want := runOp(ctx, alone, op); !reflect.DeepEqual(got[i], want) {
			t.Fatalf("write %d (%+v): grouped %+v, one by one %+v", i, op.append, got[i], want)
		}
	}
	ge, gi, gs := dump(t, grouped, streams)
	ae, ai, as := dump(t, alone, streams)
	if !reflect.DeepEqual(ge, ae) {
		t.Fatalf("events differ:\ngrouped %+v\nalone   %+v", ge, ae)
	}
	if !reflect.DeepEqual(gi, ai) || !reflect.DeepEqual(gs, as) {
		t.Fatalf("streams or snapshots differ:\ngrouped %+v %+v\nalone   %+v %+v", gi, gs, ai, as)
	}
	return did
}

// TestBatchMatchesOneByOne: a group of writes queued together (so that its
// consecutive appends run as batches) returns what the same writes return
// one at a time, and leaves the same events, streams and snapshots.
func TestBatchMatchesOneByOne(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			faulty := -1 // every third group holds an append whose INSERT fails
			if seed%3 == 0 {
				faulty = rng.IntN(40)
			}
			before, ops := randomOps(rng, 8, -1, t0), randomOps(rng, 40, faulty, t0.Add(time.Hour))
			did := compareGrouped(t, before, ops, []string{"a", "b", "c"})
			if did.groups > 3 {
				t.Errorf("%d groups committed; want the writes grouped", did.groups)
			}
			switch {
			case faulty >= 0 && ops[faulty].append != nil:
				// It fails a batch when it has an append beside it.
				next := func(i int) bool { return i >= 0 && i < len(ops) && ops[i].append != nil }
				if did.reruns == 0 && (next(faulty-1) || next(faulty+1)) {
					t.Errorf("the faulty append's INSERT did not fail its batch")
				}
			case did.batched == 0 || did.reruns != 0:
				t.Errorf("%d appends ran in batches, %d batches failed; want some, and none", did.batched, did.reruns)
			}
		})
	}
}

// TestBatchChunks: a group of more appends, streams and IDs than one
// statement takes (100) runs in batches of several statements each, and
// matches the same appends one by one.
func TestBatchChunks(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	streams := make([]string, 150)
	for i := range streams {
		streams[i] = fmt.Sprintf("s-%03d", i)
	}
	ev := func(id string, keyed bool, n int) chronicle.PreparedEvent {
		return chronicle.PreparedEvent{ID: id, Keyed: keyed, Type: "T", Data: []byte(id), Time: t0.Add(time.Duration(n) * time.Millisecond)}
	}
	var before []batchOp
	for i, s := range streams[:75] { // half the streams exist, with keyed events k0 and k1
		before = append(before, batchOp{append: &chronicle.AppendParams{Stream: s, Expect: chronicle.NoStream,
			Events: []chronicle.PreparedEvent{ev("k0", true, i), ev("k1", true, i)}}})
	}
	var ops []batchOp
	for j := range 200 {
		p := &chronicle.AppendParams{Stream: streams[(j*7)%len(streams)], Expect: chronicle.Any}
		switch j % 5 {
		case 0:
			p.Expect = chronicle.NoStream
		case 1:
			p.Expect = chronicle.StreamExists
		}
		id := fmt.Sprint(j)
		switch j % 4 {
		case 0: // a full duplicate where the stream exists
			p.Events = []chronicle.PreparedEvent{ev("k0", true, j), ev("k1", true, j)}
		case 1: // a partial one
			p.Events = []chronicle.PreparedEvent{ev("k1", true, j), ev("n"+id, true, j), ev("u"+id, false, j)}
		case 2:
			p.Events = []chronicle.PreparedEvent{ev("u"+id, false, j)}
		case 3:
			p.Events = []chronicle.PreparedEvent{ev("k0", true, j), ev("x"+id, true, j)}
		}
		ops = append(ops, batchOp{append: p})
	}
	did := compareGrouped(t, before, ops, streams)
	if did.batched != int64(len(ops)) || did.reruns != 0 {
		t.Fatalf("%d of %d appends ran in batches, %d batches failed; want all, and none", did.batched, len(ops), did.reruns)
	}
}

// TestBatchLargeValues: a group of appends whose values together exceed
// what one statement may bind (on the default engine, a connection's
// memory) writes them in several INSERTs, without failing its batch.
func TestBatchLargeValues(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 240 MiB")
	}
	_, b := openStore(t)
	ctx := t.Context()
	data := make([]byte, 3<<20)
	release := holdWriter(t, b)
	errs := make(chan error, 80)
	for i := range cap(errs) {
		p := &chronicle.AppendParams{Stream: fmt.Sprint("s-", i), Expect: chronicle.NoStream,
			Events: []chronicle.PreparedEvent{{ID: fmt.Sprint("e-", i), Type: "T", Data: data, Time: time.Now().UTC()}}}
		go func() {
			_, err := b.Append(ctx, p)
			errs <- err
		}()
		waitQueued(t, b, i+1)
	}
	release()
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n, r := b.batched.Load(), b.batchReruns.Load(); n != int64(cap(errs)) || r != 0 {
		t.Fatalf("%d of %d appends ran in batches, %d batches failed; want all, and none", n, cap(errs), r)
	}
}

// TestBatchRerunsWhenAStatementFails: when a batch's INSERT fails (here an
// ID repeated within one append, which ends the transaction), the group
// runs again one by one: the faulty append fails alone, the others commit.
func TestBatchRerunsWhenAStatementFails(t *testing.T) {
	_, b := openStore(t)
	ctx := t.Context()
	ev := func(id string) chronicle.PreparedEvent {
		return chronicle.PreparedEvent{ID: id, Keyed: true, Type: "T", Time: time.Now().UTC()}
	}
	params := []*chronicle.AppendParams{
		{Stream: "x", Expect: chronicle.NoStream, Events: []chronicle.PreparedEvent{ev("1")}},
		{Stream: "y", Expect: chronicle.Any, Events: []chronicle.PreparedEvent{ev("2"), ev("2")}},
		{Stream: "x", Expect: chronicle.Exactly(1), Events: []chronicle.PreparedEvent{ev("3")}},
	}
	release := holdWriter(t, b)
	errs := make([]error, len(params))
	finished := make(chan struct{})
	for i, p := range params {
		go func() {
			_, errs[i] = b.Append(ctx, p)
			finished <- struct{}{}
		}()
		waitQueued(t, b, i+1)
	}
	release()
	for range params {
		<-finished
	}
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("innocent appends failed: %v, %v", errs[0], errs[2])
	}
	if errs[1] == nil || errors.Is(errs[1], chronicle.ErrConflict) {
		t.Fatalf("append with a repeated ID: %v, want a constraint error", errs[1])
	}
	for stream, want := range map[string]int64{"x": 2, "y": 0} {
		if info, err := b.StreamInfo(ctx, stream); err != nil || info.Version != want {
			t.Fatalf("%s: %+v, %v; want version %d", stream, info, err, want)
		}
	}
}

// TestBatchLookupsUseIndexes: a batch's look-ups search the indexes, on
// whichever SQLite the build links (a scan would make every group's cost
// grow with the store).
func TestBatchLookupsUseIndexes(t *testing.T) {
	_, b := openStore(t)
	b.wmu.Lock()
	defer b.wmu.Unlock()
	for _, q := range []string{b.sql.batchFor(batchVersions, 4), b.sql.batchFor(batchLookup, 4)} {
		st, err := b.writer.prep("EXPLAIN QUERY PLAN " + q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for st.Step() {
			plan = append(plan, st.ColumnText(3))
		}
		done(st)
		searched := false
		for _, step := range plan {
			// Scanning the bound keys (the VALUES list, or k) is expected.
			if strings.HasPrefix(step, "SCAN") && !strings.Contains(step, "ROWS") && step != "SCAN k" {
				t.Fatalf("%s\nscans a table: %q", q, plan)
			}
			searched = searched || strings.HasPrefix(step, "SEARCH")
		}
		if !searched {
			t.Fatalf("%s\nsearches no index: %q", q, plan)
		}
	}
}

// TestInsertLen: an INSERT takes rows up to rowsPerInsert and insertBytes,
// and always at least one.
func TestInsertLen(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		sizes []int
		want  int
	}{
		{nil, 0},
		{[]int{5 * mib}, 1},
		{[]int{5 * mib, 1}, 1},
		{[]int{mib, mib, mib, mib, mib}, 4},
		{[]int{3 * mib, 2 * mib}, 1},
		{[]int{1, 4*mib - 1, 1}, 2},
		{make([]int, 150), rowsPerInsert},
	} {
		if got := insertLen(tc.sizes, func(n *int) int { return *n }); got != tc.want {
			t.Errorf("insertLen of sizes %v = %d, want %d", tc.sizes, got, tc.want)
		}
	}
}
