package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

var metricsTests = []test{
	{name: "StreamInfo", run: testMetricsStreamInfo},
	{name: "Stats", run: testMetricsStats},
	{name: "ListStreams", run: testMetricsListStreams},
	{name: "ListStreamsPaging", run: testMetricsListPaging},
}

// testMetricsStreamInfo: StreamInfo reports version, event count and the
// times of the first and last events; a missing stream is all zero.
func testMetricsStreamInfo(t *testing.T, s *chronicle.Store) {
	info := streamInfo(t, s, "missing")
	if info != (chronicle.StreamInfo{Stream: "missing"}) {
		t.Fatalf("StreamInfo of a missing stream = %+v", info)
	}
	t1 := time.Date(2020, 1, 2, 3, 4, 5, 6, time.FixedZone("X", -7*3600))
	t2 := t1.Add(time.Hour)
	t3 := t1.Add(-time.Hour) // times need not increase
	mustAppend(t, s, "m", chronicle.Any, chronicle.EventData{Type: "E", Time: t1}, chronicle.EventData{Type: "E", Time: t2})
	mustAppend(t, s, "other", chronicle.Any, ev("E"))
	mustAppend(t, s, "m", chronicle.Any, chronicle.EventData{Type: "E", Time: t3})
	info = streamInfo(t, s, "m")
	if info.Stream != "m" || info.Version != 3 || info.Events != 3 {
		t.Fatalf("StreamInfo = %+v, want version 3 with 3 events", info)
	}
	if !info.FirstTime.Equal(t1) || !info.LastTime.Equal(t3) {
		t.Fatalf("StreamInfo times %v … %v, want %v … %v", info.FirstTime, info.LastTime, t1.UTC(), t3.UTC())
	}
	if info.FirstTime.Location() != time.UTC || info.LastTime.Location() != time.UTC {
		t.Fatalf("StreamInfo times %v, %v are not in UTC", info.FirstTime, info.LastTime)
	}
	// A conflicting append creates nothing.
	if _, err := s.Append(testCtx(t), "ghost", chronicle.StreamExists, ev("E")); err == nil {
		t.Fatal("StreamExists on a missing stream succeeded")
	}
	if info := streamInfo(t, s, "ghost"); info.Version != 0 {
		t.Fatalf("failed append created stream ghost: %+v", info)
	}
}

// testMetricsStats: Stats counts events and streams and reports the head.
func testMetricsStats(t *testing.T, s *chronicle.Store) {
	if st := stats(t, s); st != (chronicle.Stats{}) {
		t.Fatalf("Stats of an empty store = %+v", st)
	}
	mustAppend(t, s, "a", chronicle.Any, events(3, "E", "a")...)
	mustAppend(t, s, "b", chronicle.Any, ev("E"))
	res := mustAppend(t, s, "a", chronicle.Any, ev("E"), ev("E"))
	st := stats(t, s)
	if st.Events != 6 || st.Streams != 2 || st.Head != res.Positions[1] || st.Watchers != 0 {
		t.Fatalf("Stats = %+v, want 6 events, 2 streams, head %v", st, res.Positions[1])
	}
	mustAppend(t, s, "a", chronicle.Any, keyed("k", "E"))
	mustAppend(t, s, "a", chronicle.Any, keyed("k", "E")) // a duplicate changes nothing
	if st := stats(t, s); st.Events != 7 || st.Streams != 2 {
		t.Fatalf("Stats = %+v, want 7 events, 2 streams", st)
	}
}

// testMetricsListStreams: ListStreams lists streams in byte order, with
// Prefix, After and Limit.
func testMetricsListStreams(t *testing.T, s *chronicle.Store) {
	if got := mustCollect(t, s.ListStreams(testCtx(t), nil)); len(got) != 0 {
		t.Fatalf("ListStreams of an empty store returned %d streams", len(got))
	}
	names := []string{"b/2", "a", "b/10", "Z", "é", "b/1", "a-1", "a/1", "z", "🚀", "订单", "b"}
	for i, name := range names {
		mustAppend(t, s, name, chronicle.Any, events(i+1, "E", name)...)
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted) // Go compares strings bytewise
	want := []string{"Z", "a", "a-1", "a/1", "b", "b/1", "b/10", "b/2", "z", "é", "订单", "🚀"}
	if !slices.Equal(sorted, want) {
		t.Fatalf("test bug: byte order %q", sorted)
	}
	cases := []struct {
		name string
		o    *chronicle.ListStreamsOptions
		want []string
	}{
		{"All", nil, want},
		{"Prefix", &chronicle.ListStreamsOptions{Prefix: "b/"}, []string{"b/1", "b/10", "b/2"}},
		{"PrefixWhole", &chronicle.ListStreamsOptions{Prefix: "b"}, []string{"b", "b/1", "b/10", "b/2"}},
		{"PrefixNone", &chronicle.ListStreamsOptions{Prefix: "c"}, nil},
		{"PrefixCase", &chronicle.ListStreamsOptions{Prefix: "A"}, nil},
		{"PrefixPercent", &chronicle.ListStreamsOptions{Prefix: "%"}, nil},
		{"PrefixUnderscore", &chronicle.ListStreamsOptions{Prefix: "b_"}, nil},
		{"PrefixUnicode", &chronicle.ListStreamsOptions{Prefix: "订"}, []string{"订单"}},
		{"After", &chronicle.ListStreamsOptions{After: "b/1"}, []string{"b/10", "b/2", "z", "é", "订单", "🚀"}},
		{"AfterMissing", &chronicle.ListStreamsOptions{After: "b/0"}, []string{"b/1", "b/10", "b/2", "z", "é", "订单", "🚀"}},
		{"AfterLast", &chronicle.ListStreamsOptions{After: "🚀"}, nil},
		{"Limit", &chronicle.ListStreamsOptions{Limit: 3}, []string{"Z", "a", "a-1"}},
		{"LimitLarge", &chronicle.ListStreamsOptions{Limit: 100}, want},
		{"PrefixAfterLimit", &chronicle.ListStreamsOptions{Prefix: "b", After: "b", Limit: 2}, []string{"b/1", "b/10"}},
		{"PrefixAfterBeyond", &chronicle.ListStreamsOptions{Prefix: "a", After: "b"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := mustCollect(t, s.ListStreams(testCtx(t), tc.o))
			var gotNames []string
			for _, info := range got {
				gotNames = append(gotNames, info.Stream)
				i := slices.Index(names, info.Stream)
				if i < 0 || info.Version != int64(i+1) || info.Events != int64(i+1) || info.FirstTime.IsZero() || info.LastTime.Before(info.FirstTime) {
					t.Fatalf("ListStreams entry %+v, want version %d with times", info, i+1)
				}
			}
			if !slices.Equal(gotNames, tc.want) {
				t.Fatalf("ListStreams(%+v) = %q, want %q", tc.o, gotNames, tc.want)
			}
		})
	}
}

// testMetricsListPaging: listings longer than a page come out complete and
// in order, and a listing can be resumed with After.
func testMetricsListPaging(t *testing.T, s *chronicle.Store) {
	const n = 600
	var want []string
	for i := range n {
		name := sprintf("p-%03d", (i*7)%n) // appended out of order
		mustAppend(t, s, name, chronicle.Any, ev("E"))
		want = append(want, name)
	}
	mustAppend(t, s, "q", chronicle.Any, ev("E"))
	slices.Sort(want)
	list := func(o *chronicle.ListStreamsOptions) []string {
		var out []string
		for _, info := range mustCollect(t, s.ListStreams(testCtx(t), o)) {
			out = append(out, info.Stream)
		}
		return out
	}
	if got := list(&chronicle.ListStreamsOptions{Prefix: "p-"}); !slices.Equal(got, want) {
		t.Fatalf("ListStreams: %s, want %s", short(got), short(want))
	}
	if got := list(nil); len(got) != n+1 || got[n] != "q" {
		t.Fatalf("ListStreams without prefix: %s", short(got))
	}
	first := list(&chronicle.ListStreamsOptions{Prefix: "p-", Limit: 550})
	rest := list(&chronicle.ListStreamsOptions{Prefix: "p-", After: first[len(first)-1]})
	if !slices.Equal(append(first, rest...), want) {
		t.Fatalf("resumed listing: %s then %s", short(first), short(rest))
	}
	if got := list(&chronicle.ListStreamsOptions{After: "p-100", Limit: 520}); !slices.Equal(got, append(slices.Clone(want[101:]), "q")) {
		t.Fatalf("ListStreams after p-100: %s", short(got))
	}
}
