package storetest

import (
	"context"
	"errors"
	"iter"
	"math"
	"slices"
	"testing"

	"github.com/chronicle-go/chronicle"
)

var readTests = []test{
	{name: "FromAndLimit", run: testReadFromAndLimit},
	{name: "MissingStream", run: testReadMissing},
	{name: "Paging", run: testReadPaging},
	{name: "BreakEarly", run: testReadBreak},
	{name: "RangeTwice", run: testReadRangeTwice},
	{name: "AppendInLoop", run: testReadAppendInLoop},
	{name: "Canceled", run: testReadCanceled},
}

// testReadFromAndLimit: from is exclusive in both directions, 0 backwards
// means the end, and Limit caps the result.
func testReadFromAndLimit(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "r", chronicle.Any, events(5, "E", "r")...)
	mustAppend(t, s, "other", chronicle.Any, events(3, "E", "o")...)
	cases := []struct {
		name      string
		from      int64
		backwards bool
		limit     int
		want      []int64
	}{
		{"FromZero", 0, false, 0, span(1, 5)},
		{"FromMiddle", 2, false, 0, span(3, 5)},
		{"FromLast", 5, false, 0, nil},
		{"FromBeyond", 9, false, 0, nil},
		{"FromMaxInt", math.MaxInt64, false, 0, nil},
		{"Limit", 0, false, 2, span(1, 2)},
		{"LimitFromMiddle", 1, false, 3, span(2, 4)},
		{"LimitBeyondEnd", 3, false, 10, span(4, 5)},
		{"LimitOne", 4, false, 1, []int64{5}},
		{"BackwardsFromEnd", 0, true, 0, span(5, 1)},
		{"BackwardsFromMiddle", 3, true, 0, span(2, 1)},
		{"BackwardsFromLast", 5, true, 0, span(4, 1)},
		{"BackwardsFromFirst", 1, true, 0, nil},
		{"BackwardsFromBeyond", 9, true, 0, span(5, 1)},
		{"BackwardsFromMaxInt", math.MaxInt64, true, 0, span(5, 1)},
		{"BackwardsLimit", 0, true, 2, span(5, 4)},
		{"BackwardsLimitFromMiddle", 4, true, 2, span(3, 2)},
		{"BackwardsLimitBeyondStart", 3, true, 10, span(2, 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := readStream(t, s, "r", tc.from, &chronicle.ReadOptions{Backwards: tc.backwards, Limit: tc.limit})
			checkVersions(t, "Read", got, tc.want)
			for _, e := range got {
				if e.Stream != "r" {
					t.Fatalf("Read returned an event of stream %q", e.Stream)
				}
			}
		})
	}
}

// testReadMissing: a stream without events reads as empty, without error,
// however it is read.
func testReadMissing(t *testing.T, s *chronicle.Store) {
	mustAppend(t, s, "present", chronicle.Any, ev("A"))
	for _, o := range []*chronicle.ReadOptions{nil, {Backwards: true}, {Limit: 3}} {
		if got := readStream(t, s, "absent", 0, o); len(got) != 0 {
			t.Fatalf("Read of a missing stream returned %d events", len(got))
		}
	}
	if got := readStream(t, s, "absent", 7, nil); len(got) != 0 {
		t.Fatalf("Read of a missing stream from 7 returned %d events", len(got))
	}
}

// testReadPaging: streams longer than several pages read completely and in
// order, in both directions, with and without limits and filters.
func testReadPaging(t *testing.T, s *chronicle.Store) {
	const n = 1300
	for i := 0; i < n; i += 100 {
		batch := events(100, "Even", sprintf("p%d", i))
		for j := range batch {
			if (i+j+1)%2 == 1 {
				batch[j].Type = "Odd"
			}
		}
		mustAppend(t, s, "long", chronicle.Any, batch...)
		mustAppend(t, s, "noise", chronicle.Any, ev("Noise"))
	}
	checkVersions(t, "Read all", readStream(t, s, "long", 0, nil), span(1, n))
	checkVersions(t, "Read backwards", readStream(t, s, "long", 0, &chronicle.ReadOptions{Backwards: true}), span(n, 1))
	checkVersions(t, "Read last 10", readStream(t, s, "long", 0, &chronicle.ReadOptions{Backwards: true, Limit: 10}), span(n, n-9))
	checkVersions(t, "Read 600 from 100", readStream(t, s, "long", 100, &chronicle.ReadOptions{Limit: 600}), span(101, 700))
	checkVersions(t, "Read backwards 700 from 1000", readStream(t, s, "long", 1000, &chronicle.ReadOptions{Backwards: true, Limit: 700}), span(999, 300))
	checkVersions(t, "Read from 1299", readStream(t, s, "long", n-1, nil), []int64{n})

	var even []int64
	for v := int64(2); v <= n; v += 2 {
		even = append(even, v)
	}
	filter := chronicle.Filter{chronicle.TypeIs("Even")}
	checkVersions(t, "Read filtered", readStream(t, s, "long", 0, &chronicle.ReadOptions{Filter: filter}), even)
	rev := slices.Clone(even)
	slices.Reverse(rev)
	checkVersions(t, "Read filtered backwards", readStream(t, s, "long", 0, &chronicle.ReadOptions{Filter: filter, Backwards: true}), rev)
	checkVersions(t, "Read filtered limit", readStream(t, s, "long", 0, &chronicle.ReadOptions{Filter: filter, Limit: 600}), even[:600])

	all := readAll(t, s, chronicle.Position{}, nil)
	if len(all) != n+n/100 {
		t.Fatalf("ReadAll returned %d events, want %d", len(all), n+n/100)
	}
	long := readAll(t, s, chronicle.Position{}, &chronicle.ReadOptions{Filter: chronicle.Filter{chronicle.StreamIs("long")}})
	checkVersions(t, "ReadAll of one stream", long, span(1, n))
	back := readAll(t, s, chronicle.Position{}, &chronicle.ReadOptions{Backwards: true, Limit: 700, Filter: chronicle.Filter{chronicle.StreamIs("long")}})
	checkVersions(t, "ReadAll of one stream backwards", back, span(n, n-699))
}

// testReadBreak: a loop may stop early; the store is fine afterwards.
func testReadBreak(t *testing.T, s *chronicle.Store) {
	fill(t, s, "b", 1100, 550)
	for _, seq := range []func() iter.Seq2[chronicle.Event, error]{
		func() iter.Seq2[chronicle.Event, error] { return s.Read(testCtx(t), "b", 0, nil) },
		func() iter.Seq2[chronicle.Event, error] { return s.ReadAll(testCtx(t), chronicle.Position{}, nil) },
		func() iter.Seq2[chronicle.Event, error] {
			return s.Read(testCtx(t), "b", 0, &chronicle.ReadOptions{Backwards: true})
		},
	} {
		n := 0
		for _, err := range seq() {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 3 {
				break
			}
		}
	}
	mustAppend(t, s, "b", chronicle.Exactly(1100), ev("After"))
}

// testReadAppendInLoop: the body of a Read, ReadAll or Watch loop may
// append to the stream it iterates without deadlocking.
func testReadAppendInLoop(t *testing.T, s *chronicle.Store) {
	fill(t, s, "loop", 700, 700)
	for _, backwards := range []bool{false, true} {
		within(t, "a Read whose body appends", func() {
			ctx := testCtx(t)
			appended := 0
			var last int64
			for e, err := range s.Read(ctx, "loop", 0, &chronicle.ReadOptions{Backwards: backwards}) {
				if err != nil {
					t.Errorf("Read: %v", err)
					return
				}
				if last != 0 && (e.Version > last) == backwards {
					t.Errorf("Read (backwards %v) returned version %d after %d", backwards, e.Version, last)
					return
				}
				last = e.Version
				if appended < 5 {
					if _, err := s.Append(ctx, "loop", chronicle.Any, ev("InLoop")); err != nil {
						t.Errorf("Append in the loop: %v", err)
						return
					}
					appended++
				}
			}
		})
	}
	within(t, "a ReadAll whose body appends", func() {
		ctx := testCtx(t)
		n := 0
		for _, err := range s.ReadAll(ctx, chronicle.Position{}, nil) {
			if err != nil {
				t.Errorf("ReadAll: %v", err)
				return
			}
			if n++; n <= 5 {
				if _, err := s.Append(ctx, "loop", chronicle.Any, ev("InLoop")); err != nil {
					t.Errorf("Append in the loop: %v", err)
					return
				}
			}
		}
	})
	if info := streamInfo(t, s, "loop"); info.Version != 715 {
		t.Fatalf("stream at version %d after the loops, want 715", info.Version)
	}

	// A watch whose body appends sees its own appends as live events.
	mustAppend(t, s, "wloop", chronicle.Any, events(3, "E", "w")...)
	within(t, "a Watch whose body appends", func() {
		ctx := testCtx(t)
		want := int64(1)
		for e, err := range s.Watch(ctx, "wloop", 0, nil) {
			if err != nil {
				t.Errorf("Watch: %v", err)
				return
			}
			if e.Version != want {
				t.Errorf("Watch delivered version %d, want %d", e.Version, want)
				return
			}
			want++
			if e.Version <= 5 {
				if _, err := s.Append(ctx, "wloop", chronicle.Any, ev("InLoop")); err != nil {
					t.Errorf("Append in the loop: %v", err)
					return
				}
			}
			if e.Version == 8 {
				break
			}
		}
	})
}

// testReadCanceled: a cancelled context ends reads with an error matching
// context.Canceled.
func testReadCanceled(t *testing.T, s *chronicle.Store) {
	fill(t, s, "c", 1300, 650)
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	wantErr(t, "Read with a cancelled context", iterErr(t, s.Read(ctx, "c", 0, nil)), context.Canceled)
	wantErr(t, "ReadAll with a cancelled context", iterErr(t, s.ReadAll(ctx, chronicle.Position{}, nil)), context.Canceled)

	// Cancelled after the first event: the iteration ends with the error
	// when it next asks for a page, unless the whole stream fitted in one.
	for name, seq := range map[string]func(context.Context) iter.Seq2[chronicle.Event, error]{
		"Read": func(ctx context.Context) iter.Seq2[chronicle.Event, error] { return s.Read(ctx, "c", 0, nil) },
		"ReadAll": func(ctx context.Context) iter.Seq2[chronicle.Event, error] {
			return s.ReadAll(ctx, chronicle.Position{}, nil)
		},
	} {
		ctx, cancel := context.WithCancel(testCtx(t))
		n := 0
		var last error
		for _, err := range seq(ctx) {
			if err != nil {
				last = err
				continue
			}
			if last != nil {
				t.Fatalf("%s yielded an event after the error %v", name, last)
			}
			if n++; n == 1 {
				cancel()
			}
		}
		cancel()
		switch {
		case errors.Is(last, context.Canceled):
		case last == nil && n == 1300:
			t.Logf("%s: the whole stream came in one page; cancellation not observed", name)
		default:
			t.Fatalf("%s cancelled mid-way: %d events, final error %v; want context.Canceled", name, n, last)
		}
	}
}

var readAllTests = []test{
	{name: "CommitOrder", run: testReadAllOrder},
	{name: "FromAndLimit", run: testReadAllFrom},
}

// testReadAllOrder: the global stream holds every event in commit order,
// at the positions Append returned.
func testReadAllOrder(t *testing.T, s *chronicle.Store) {
	type written struct {
		stream  string
		version int64
		pos     chronicle.Position
	}
	var want []written
	for i, stream := range []string{"a", "b", "a", "c", "b", "b", "a"} {
		res := mustAppend(t, s, stream, chronicle.Any, events(1+i%2, "E", stream)...)
		for j, p := range res.Positions {
			want = append(want, written{stream, res.Version - int64(len(res.Positions)-1-j), p})
		}
	}
	got := readAll(t, s, chronicle.Position{}, nil)
	if len(got) != len(want) {
		t.Fatalf("ReadAll returned %d events, want %d", len(got), len(want))
	}
	for i, w := range want {
		if e := got[i]; e.Stream != w.stream || e.Version != w.version || e.Position != w.pos {
			t.Fatalf("ReadAll[%d] = %s@%d at %v, want %s@%d at %v", i, e.Stream, e.Version, e.Position, w.stream, w.version, w.pos)
		}
	}
}

// testReadAllFrom: from is exclusive in both directions; the zero Position
// backwards means the end; Limit caps.
func testReadAllFrom(t *testing.T, s *chronicle.Store) {
	for i := range 8 {
		mustAppend(t, s, sprintf("s%d", i%3), chronicle.Any, chronicle.EventData{Type: "E", Data: []byte{byte('0' + i)}})
	}
	all := readAll(t, s, chronicle.Position{}, nil)
	if len(all) != 8 {
		t.Fatalf("ReadAll returned %d events, want 8", len(all))
	}
	pos := func(i int) chronicle.Position { return all[i].Position }
	cases := []struct {
		name      string
		from      chronicle.Position
		backwards bool
		limit     int
		want      string // Data of the events, in order
	}{
		{"FromZero", chronicle.Position{}, false, 0, "01234567"},
		{"FromThird", pos(2), false, 0, "34567"},
		{"FromLast", pos(7), false, 0, ""},
		{"FromEndPosition", chronicle.EndPosition(), false, 0, ""},
		{"FromJustAfterHead", next(pos(7)), false, 0, ""},
		{"BackwardsFromJustAfterHead", next(pos(7)), true, 2, "76"},
		{"Limit", pos(1), false, 3, "234"},
		{"LimitOne", chronicle.Position{}, false, 1, "0"},
		{"BackwardsFromZero", chronicle.Position{}, true, 0, "76543210"},
		{"BackwardsFromFifth", pos(4), true, 0, "3210"},
		{"BackwardsFromFirst", pos(0), true, 0, ""},
		{"BackwardsFromEndPosition", chronicle.EndPosition(), true, 0, "76543210"},
		{"BackwardsLimit", chronicle.Position{}, true, 3, "765"},
		{"BackwardsLimitFromSixth", pos(5), true, 2, "43"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := readAll(t, s, tc.from, &chronicle.ReadOptions{Backwards: tc.backwards, Limit: tc.limit})
			var b []byte
			for _, e := range got {
				b = append(b, e.Data...)
			}
			if string(b) != tc.want {
				t.Fatalf("ReadAll from %v (backwards %v, limit %d) = %q, want %q", tc.from, tc.backwards, tc.limit, b, tc.want)
			}
		})
	}
	// A checkpoint survives its text form.
	var p chronicle.Position
	text, _ := pos(3).MarshalText()
	if err := p.UnmarshalText(text); err != nil || p != pos(3) {
		t.Fatalf("position %v round-trips as %v, %v", pos(3), p, err)
	}
	if got := readAll(t, s, p, &chronicle.ReadOptions{Limit: 1}); len(got) != 1 || string(got[0].Data) != "4" {
		t.Fatalf("ReadAll from the parsed checkpoint returned %q", datas(got))
	}
}

// testReadRangeTwice: each range over a Read or ReadAll iterator starts
// again from the from it was created with, also after paging.
func testReadRangeTwice(t *testing.T, s *chronicle.Store) {
	fill(t, s, "twice", 1200, 400)
	seqs := map[string]func() []chronicle.Event{}
	read := s.Read(testCtx(t), "twice", 100, nil)
	seqs["Read"] = func() []chronicle.Event { return mustCollect(t, read) }
	all := s.ReadAll(testCtx(t), chronicle.At(0), nil)
	seqs["ReadAll"] = func() []chronicle.Event { return mustCollect(t, all) }
	for name, f := range seqs {
		first, second := f(), f()
		if len(first) == 0 || len(first) != len(second) || first[0].Version != second[0].Version {
			t.Fatalf("%s ranged twice: %d then %d events", name, len(first), len(second))
		}
	}
}
