package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
)

var filterTests = []test{
	{name: "Matching", run: testFilterMatching},
	{name: "MatchingLive", run: testFilterMatchingLive},
	{name: "Injection", run: testFilterInjection},
	{name: "WatchLive", run: testFilterWatchLive},
	{name: "Malformed", raw: testFilterMalformed},
}

// filterData is the dataset of the filter tests, appended one event at a
// time in this order.
var filterData = []struct{ stream, id, typ, meta string }{
	{"order-1", "e1", "Placed", `{"tenant":{"id":"t1","n":1,"vip":true},"trace-id":"abc"}`},
	{"order-2", "e2", "Paid", `{"tenant":{"id":"t2","n":2,"vip":false}}`},
	{"order-1", "e3", "Placed", `{"tenant":{"id":"t1","n":2.0}}`},
	{"customer-1", "e4", "Shipped", ``},
	{"order-2", "e5", "Placed", `{"tenant":"t1"}`},
	{"customer-1", "e6", "Paid", `{"tenant":{"id":1,"n":"1"},"a_b":{"c":true}}`},
	{"order-10", "e7", "Placed", `{"tenant":{"id":"t2","n":1.5,"vip":1}}`},
	{"order-10", "e8", "Refunded", `{"tenant":{"id":null,"n":[1,2]},"list":["t1"]}`},
}

// tenantID is a named string type, as applications declare them; filters
// take its values like plain strings.
type tenantID string

var filterStreams = []string{"order-1", "order-2", "order-10", "customer-1"}

func writeFilterData(t *testing.T, s *chronicle.Store) {
	t.Helper()
	for _, d := range filterData {
		e := chronicle.EventData{ID: d.id, Type: d.typ, Data: []byte(d.id)}
		if d.meta != "" {
			e.Metadata = json.RawMessage(d.meta)
		}
		mustAppend(t, s, d.stream, chronicle.Any, e)
	}
}

type filterCase struct {
	name   string
	filter chronicle.Filter
	want   string // IDs of the matching events, space-separated, in commit order
}

var filterCases = []filterCase{
	{"None", nil, "e1 e2 e3 e4 e5 e6 e7 e8"},
	{"Empty", chronicle.Filter{}, "e1 e2 e3 e4 e5 e6 e7 e8"},
	{"StreamIs", chronicle.Filter{chronicle.StreamIs("order-1")}, "e1 e3"},
	{"StreamIsNotPrefix", chronicle.Filter{chronicle.StreamIs("order")}, ""},
	{"StreamIn", chronicle.Filter{chronicle.StreamIn("order-1", "customer-1", "nope")}, "e1 e3 e4 e6"},
	{"StreamInNone", chronicle.Filter{chronicle.StreamIn("nope", "Order-1")}, ""},
	{"StreamPrefix", chronicle.Filter{chronicle.StreamPrefix("order-1")}, "e1 e3 e7 e8"},
	{"StreamPrefixWide", chronicle.Filter{chronicle.StreamPrefix("order-")}, "e1 e2 e3 e5 e7 e8"},
	{"StreamPrefixWhole", chronicle.Filter{chronicle.StreamPrefix("customer-1")}, "e4 e6"},
	{"StreamPrefixInfix", chronicle.Filter{chronicle.StreamPrefix("der-1")}, ""},
	{"StreamPrefixSuffix", chronicle.Filter{chronicle.StreamPrefix("1")}, ""},
	{"StreamPrefixCase", chronicle.Filter{chronicle.StreamPrefix("Order")}, ""},
	{"StreamPrefixPercent", chronicle.Filter{chronicle.StreamPrefix("%")}, ""},
	{"StreamPrefixUnderscore", chronicle.Filter{chronicle.StreamPrefix("order_")}, ""},
	{"StreamPrefixStar", chronicle.Filter{chronicle.StreamPrefix("order*")}, ""},
	{"StreamPrefixBracket", chronicle.Filter{chronicle.StreamPrefix("[o]rder")}, ""},
	{"TypeIs", chronicle.Filter{chronicle.TypeIs("Placed")}, "e1 e3 e5 e7"},
	{"TypeIsCase", chronicle.Filter{chronicle.TypeIs("placed")}, ""},
	{"TypeIn", chronicle.Filter{chronicle.TypeIn("Paid", "Shipped")}, "e2 e4 e6"},
	{"MetaString", chronicle.Filter{chronicle.MetadataIs("tenant.id", "t1")}, "e1 e3"},
	{"MetaStringNotNumber", chronicle.Filter{chronicle.MetadataIs("tenant.id", "1")}, ""},
	{"MetaInt", chronicle.Filter{chronicle.MetadataIs("tenant.id", 1)}, "e6"},
	{"MetaInt32", chronicle.Filter{chronicle.MetadataIs("tenant.id", int32(1))}, "e6"},
	{"MetaUint64", chronicle.Filter{chronicle.MetadataIs("tenant.id", uint64(1))}, "e6"},
	{"MetaIntOne", chronicle.Filter{chronicle.MetadataIs("tenant.n", 1)}, "e1"},
	{"MetaIntMatchesFloat", chronicle.Filter{chronicle.MetadataIs("tenant.n", 2)}, "e2 e3"},
	{"MetaFloatMatchesInt", chronicle.Filter{chronicle.MetadataIs("tenant.n", 2.0)}, "e2 e3"},
	{"MetaFloat", chronicle.Filter{chronicle.MetadataIs("tenant.n", 1.5)}, "e7"},
	{"MetaFloat32", chronicle.Filter{chronicle.MetadataIs("tenant.n", float32(1.5))}, "e7"},
	{"MetaNamedString", chronicle.Filter{chronicle.MetadataIs("tenant.id", tenantID("t1"))}, "e1 e3"},
	{"StreamNamedString", chronicle.Filter{{Field: chronicle.FieldStream, Op: chronicle.OpPrefix, Values: []any{tenantID("customer-")}}}, "e4 e6"},
	{"MetaNumberAsString", chronicle.Filter{chronicle.MetadataIs("tenant.n", "1")}, "e6"},
	{"MetaTrue", chronicle.Filter{chronicle.MetadataIs("tenant.vip", true)}, "e1"},
	{"MetaFalse", chronicle.Filter{chronicle.MetadataIs("tenant.vip", false)}, "e2"},
	{"MetaIntNotBool", chronicle.Filter{chronicle.MetadataIs("tenant.vip", 1)}, "e7"},
	{"MetaIntNotFalse", chronicle.Filter{chronicle.MetadataIs("tenant.vip", 0)}, ""},
	{"MetaBoolNotInt", chronicle.Filter{chronicle.MetadataIs("tenant.n", true)}, ""},
	{"MetaStringNotTrue", chronicle.Filter{chronicle.MetadataIs("tenant.vip", "true")}, ""},
	{"MetaTopLevel", chronicle.Filter{chronicle.MetadataIs("tenant", "t1")}, "e5"},
	{"MetaThroughString", chronicle.Filter{chronicle.MetadataIs("tenant.id.x", "t1")}, ""},
	{"MetaObjectValue", chronicle.Filter{chronicle.MetadataIs("tenant", "{}")}, ""},
	{"MetaNullNotEmpty", chronicle.Filter{chronicle.MetadataIs("tenant.id", "")}, ""},
	{"MetaNullNotZero", chronicle.Filter{chronicle.MetadataIs("tenant.id", 0)}, ""},
	{"MetaNullNotFalse", chronicle.Filter{chronicle.MetadataIs("tenant.id", false)}, ""},
	{"MetaArrayNotElement", chronicle.Filter{chronicle.MetadataIs("list", "t1")}, ""},
	{"MetaArrayIndexPath", chronicle.Filter{chronicle.MetadataIs("list.0", "t1")}, ""},
	{"MetaDashKey", chronicle.Filter{chronicle.MetadataIs("trace-id", "abc")}, "e1"},
	{"MetaUnderscoreKey", chronicle.Filter{chronicle.MetadataIs("a_b.c", true)}, "e6"},
	{"MetaMissing", chronicle.Filter{chronicle.MetadataIs("nothing.here", "t1")}, ""},
	{"MetaIn", chronicle.Filter{chronicle.MetadataIn("tenant.id", "t2", 1)}, "e2 e6 e7"},
	{"MetaInMixed", chronicle.Filter{chronicle.MetadataIn("tenant.n", 1.5, "1", true, 1)}, "e1 e6 e7"},
	{"MetaInBool", chronicle.Filter{chronicle.MetadataIn("tenant.vip", true, false)}, "e1 e2"},
	{"And", chronicle.Filter{chronicle.StreamPrefix("order-"), chronicle.TypeIs("Placed"), chronicle.MetadataIs("tenant.id", "t1")}, "e1 e3"},
	{"AndStreamType", chronicle.Filter{chronicle.StreamIn("order-2", "order-10"), chronicle.TypeIn("Placed", "Refunded")}, "e5 e7 e8"},
	{"AndTwoMetadata", chronicle.Filter{chronicle.MetadataIs("tenant.id", "t2"), chronicle.MetadataIs("tenant.n", 2)}, "e2"},
	{"AndContradiction", chronicle.Filter{chronicle.TypeIs("Placed"), chronicle.TypeIs("Paid")}, ""},
}

// testFilterMatching: every kind of condition selects the same events in
// ReadAll (both directions), Read, WatchAll and Watch.
func testFilterMatching(t *testing.T, s *chronicle.Store) {
	writeFilterData(t, s)
	for _, tc := range filterCases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.filter.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			want := strings.Fields(tc.want)
			o := &chronicle.ReadOptions{Filter: tc.filter}
			checkIDs(t, "ReadAll", readAll(t, s, chronicle.Position{}, o), want)
			// Live watches filter recent events in Go: Filter.Match must
			// agree with the backend's query.
			var inGo []chronicle.Event
			for _, e := range readAll(t, s, chronicle.Position{}, nil) {
				if tc.filter.Match(&e) {
					inGo = append(inGo, e)
				}
			}
			checkIDs(t, "Filter.Match", inGo, want)
			checkIDs(t, "WatchAll", watchHistory(t, watchAll(s, chronicle.Position{}), tc.filter), want)
			rev := slices.Clone(want)
			slices.Reverse(rev)
			checkIDs(t, "ReadAll backwards", readAll(t, s, chronicle.Position{}, &chronicle.ReadOptions{Filter: tc.filter, Backwards: true}), rev)
			if len(want) > 0 {
				checkIDs(t, "ReadAll limit 1", readAll(t, s, chronicle.Position{}, &chronicle.ReadOptions{Filter: tc.filter, Limit: 1}), want[:1])
				checkIDs(t, "ReadAll backwards limit 1", readAll(t, s, chronicle.Position{}, &chronicle.ReadOptions{Filter: tc.filter, Backwards: true, Limit: 1}), rev[:1])
			}
			for _, stream := range filterStreams {
				var in []string
				for _, d := range filterData {
					if d.stream == stream && slices.Contains(want, d.id) {
						in = append(in, d.id)
					}
				}
				checkIDs(t, "Read "+stream, readStream(t, s, stream, 0, o), in)
				checkIDs(t, "Watch "+stream, watchHistory(t, watchStream(s, stream, 0), tc.filter), in)
				slices.Reverse(in)
				checkIDs(t, "Read backwards "+stream, readStream(t, s, stream, 0, &chronicle.ReadOptions{Filter: tc.filter, Backwards: true}), in)
			}
		})
	}
}

func checkIDs(t *testing.T, what string, got []chronicle.Event, want []string) {
	t.Helper()
	if g := ids(got); !slices.Equal(g, want) && !(len(g) == 0 && len(want) == 0) {
		t.Fatalf("%s: %v, want %v", what, g, want)
	}
}

// testFilterInjection: values that look like SQL are only values: they
// match nothing (or exactly what holds them) and harm nothing.
func testFilterInjection(t *testing.T, s *chronicle.Store) {
	writeFilterData(t, s)
	nasty := []string{
		`x' OR '1'='1`,
		`"; DROP TABLE events; --`,
		`') OR 1=1 --`,
		`*/ OR 1=1 /*`,
		`$.tenant`,
		`%`,
		`\`,
	}
	var filters []chronicle.Filter
	for _, v := range nasty {
		filters = append(filters,
			chronicle.Filter{chronicle.StreamIs(v)},
			chronicle.Filter{chronicle.StreamIn(v, v+"2")},
			chronicle.Filter{chronicle.StreamPrefix(v)},
			chronicle.Filter{chronicle.TypeIs(v)},
			chronicle.Filter{chronicle.TypeIn(v)},
			chronicle.Filter{chronicle.MetadataIs("tenant.id", v)},
			chronicle.Filter{chronicle.MetadataIn("tenant", v, v)},
		)
	}
	for _, f := range filters {
		if got := readAll(t, s, chronicle.Position{}, &chronicle.ReadOptions{Filter: f}); len(got) != 0 {
			t.Fatalf("filter %+v matched %v", f, ids(got))
		}
		if got := readStream(t, s, "order-1", 0, &chronicle.ReadOptions{Filter: f}); len(got) != 0 {
			t.Fatalf("filter %+v matched %v in Read", f, ids(got))
		}
		if got := watchHistory(t, watchAll(s, chronicle.Position{}), f); len(got) != 0 {
			t.Fatalf("filter %+v matched %v in WatchAll", f, ids(got))
		}
	}
	// Values that are stored are found, and only where they are.
	for _, v := range nasty {
		mustAppend(t, s, v, chronicle.Any, chronicle.EventData{Type: v, Metadata: mustJSON(t, map[string]any{"tenant": map[string]any{"id": v}})})
	}
	for _, v := range nasty {
		for _, f := range []chronicle.Filter{
			{chronicle.StreamIs(v)},
			{chronicle.TypeIs(v)},
			{chronicle.MetadataIs("tenant.id", v)},
			{chronicle.StreamPrefix(v), chronicle.TypeIn(v)},
		} {
			got := readAll(t, s, chronicle.Position{}, &chronicle.ReadOptions{Filter: f})
			if len(got) != 1 || got[0].Stream != v {
				t.Fatalf("filter %+v matched %d events, want the one in stream %q", f, len(got), v)
			}
		}
	}
	if st := stats(t, s); st.Events != int64(len(filterData)+len(nasty)) {
		t.Fatalf("store holds %d events, want %d", st.Events, len(filterData)+len(nasty))
	}
	mustAppend(t, s, "order-1", chronicle.Exactly(2), ev("StillWorks"))
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testFilterWatchLive: filtered watches deliver only matching events, both
// from a history of many non-matching pages and live.
func testFilterWatchLive(t *testing.T, s *chronicle.Store) {
	hit := func(i int) chronicle.EventData {
		return chronicle.EventData{Type: "Hit", Data: []byte(sprintf("hit-%d", i)), Metadata: json.RawMessage(`{"tenant":{"id":"t1"}}`)}
	}
	mustAppend(t, s, "w", chronicle.Any, hit(1))
	fill(t, s, "w", 1300, 500) // more than a page of misses
	mustAppend(t, s, "w", chronicle.Any, hit(2))
	fill(t, s, "x", 600, 600)

	filter := chronicle.Filter{chronicle.TypeIs("Hit"), chronicle.MetadataIs("tenant.id", "t1")}
	all := startWatch(t, watchAll(s, chronicle.Position{}), filter)
	one := startWatch(t, watchStream(s, "w", 0), filter)
	for _, w := range []*watcher{all, one} {
		w.waitCaughtUp(t)
		if got := datas(w.take(t, 2)); !slices.Equal(got, []string{"hit-1", "hit-2"}) {
			t.Fatalf("history: %q, want hit-1 hit-2", got)
		}
	}
	mustAppend(t, s, "w", chronicle.Any, ev("Miss"), hit(3), ev("Miss"))
	mustAppend(t, s, "x", chronicle.Any, hit(4))
	mustAppend(t, s, "w", chronicle.Any, chronicle.EventData{Type: "Hit", Metadata: json.RawMessage(`{"tenant":{"id":"t2"}}`)})
	fill(t, s, "w", 700, 700)
	mustAppend(t, s, "w", chronicle.Any, hit(5))
	if got := datas(all.take(t, 3)); !slices.Equal(got, []string{"hit-3", "hit-4", "hit-5"}) {
		t.Fatalf("WatchAll live: %q, want hit-3 hit-4 hit-5", got)
	}
	if got := datas(one.take(t, 2)); !slices.Equal(got, []string{"hit-3", "hit-5"}) {
		t.Fatalf("Watch live: %q, want hit-3 hit-5", got)
	}
	// Nothing else is pending: the next event of both is a new hit.
	mustAppend(t, s, "w", chronicle.Any, hit(6))
	for _, w := range []*watcher{all, one} {
		if got := datas(w.take(t, 1)); got[0] != "hit-6" {
			t.Fatalf("after the expected events: %q, want hit-6", got)
		}
	}
}

// malformedFilters are rejected by Filter.Validate and by every method.
var malformedFilters = []struct {
	name   string
	filter chronicle.Filter
}{
	{"TypeInEmpty", chronicle.Filter{chronicle.TypeIn()}},
	{"StreamInEmpty", chronicle.Filter{chronicle.StreamIn()}},
	{"MetadataInEmpty", chronicle.Filter{chronicle.MetadataIn("a")}},
	{"EmptyStream", chronicle.Filter{chronicle.StreamIs("")}},
	{"EmptyPrefix", chronicle.Filter{chronicle.StreamPrefix("")}},
	{"EmptyType", chronicle.Filter{chronicle.TypeIs("")}},
	{"ControlInStream", chronicle.Filter{chronicle.StreamIs("a\x00")}},
	{"EmptyPath", chronicle.Filter{chronicle.MetadataIs("", "v")}},
	{"EmptySegment", chronicle.Filter{chronicle.MetadataIs("a..b", "v")}},
	{"TrailingDot", chronicle.Filter{chronicle.MetadataIs("a.", "v")}},
	{"SpaceInPath", chronicle.Filter{chronicle.MetadataIs("a b", "v")}},
	{"QuoteInPath", chronicle.Filter{chronicle.MetadataIs(`a"b`, "v")}},
	{"DollarPath", chronicle.Filter{chronicle.MetadataIs("$.a", "v")}},
	{"DeepPath", chronicle.Filter{chronicle.MetadataIs(strings.Repeat("a.", chronicle.MaxMetadataPathDepth)+"a", "v")}},
	{"LongSegment", chronicle.Filter{chronicle.MetadataIs(strings.Repeat("a", 65), "v")}},
	{"StructValue", chronicle.Filter{chronicle.MetadataIs("x", struct{}{})}},
	{"NilValue", chronicle.Filter{chronicle.MetadataIs("x", nil)}},
	{"SliceValue", chronicle.Filter{chronicle.MetadataIs("x", []string{"a"})}},
	{"NaN", chronicle.Filter{chronicle.MetadataIs("x", math.NaN())}},
	{"Inf", chronicle.Filter{chronicle.MetadataIs("x", math.Inf(1))}},
	{"HugeUint", chronicle.Filter{chronicle.MetadataIs("x", uint64(math.MaxUint64))}},
	{"TooManyValues", chronicle.Filter{chronicle.StreamIn(make([]string, chronicle.MaxFilterValues+1)...)}},
	{"PrefixOnType", chronicle.Filter{{Field: chronicle.FieldType, Op: chronicle.OpPrefix, Values: []any{"x"}}}},
	{"PrefixOnMetadata", chronicle.Filter{{Field: chronicle.FieldMetadata, Op: chronicle.OpPrefix, Path: "a", Values: []any{"x"}}}},
	{"UnknownOp", chronicle.Filter{{Field: chronicle.FieldStream, Op: chronicle.Op(99), Values: []any{"x"}}}},
	{"ZeroOp", chronicle.Filter{{Field: chronicle.FieldStream, Values: []any{"x"}}}},
	{"UnknownField", chronicle.Filter{{Field: chronicle.Field(99), Op: chronicle.OpEquals, Values: []any{"x"}}}},
	{"ZeroCondition", chronicle.Filter{{}}},
	{"EqualsTwoValues", chronicle.Filter{{Field: chronicle.FieldType, Op: chronicle.OpEquals, Values: []any{"a", "b"}}}},
	{"StreamNotString", chronicle.Filter{{Field: chronicle.FieldStream, Op: chronicle.OpEquals, Values: []any{42}}}},
	{"PathOnType", chronicle.Filter{{Field: chronicle.FieldType, Op: chronicle.OpEquals, Path: "a", Values: []any{"x"}}}},
	{"BadSecondCondition", chronicle.Filter{chronicle.TypeIs("ok"), chronicle.TypeIn()}},
}

// testFilterMalformed: a malformed filter fails every read and watch with
// ErrInvalid, before any query: even a closed store reports ErrInvalid.
func testFilterMalformed(t *testing.T, open func(t *testing.T) *chronicle.Store) {
	s := openChecked(t, open)
	mustAppend(t, s, "m", chronicle.Any, ev("A"))
	closed := open(t)
	if err := closed.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, tc := range malformedFilters {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalid(t, "Validate", tc.filter.Validate())
			for name, st := range map[string]*chronicle.Store{"open": s, "closed": closed} {
				ctx := testCtx(t)
				r := &chronicle.ReadOptions{Filter: tc.filter}
				w := &chronicle.WatchOptions{Filter: tc.filter, CaughtUp: func() { t.Errorf("CaughtUp called for a malformed filter") }}
				wantInvalid(t, name+" Read", iterErr(t, st.Read(ctx, "m", 0, r)))
				wantInvalid(t, name+" ReadAll", iterErr(t, st.ReadAll(ctx, chronicle.Position{}, r)))
				wantInvalid(t, name+" Watch", iterErr(t, st.Watch(ctx, "m", 0, w)))
				wantInvalid(t, name+" Watch FromEnd", iterErr(t, st.Watch(ctx, "m", chronicle.FromEnd, w)))
				wantInvalid(t, name+" WatchAll", iterErr(t, st.WatchAll(ctx, chronicle.Position{}, w)))
				wantInvalid(t, name+" WatchAll EndPosition", iterErr(t, st.WatchAll(ctx, chronicle.EndPosition(), w)))
			}
		})
	}
}

// testFilterMatchingLive: watches started before the data is written
// deliver, live, exactly the events each filter selects.
func testFilterMatchingLive(t *testing.T, s *chronicle.Store) {
	type live struct {
		name string
		w    *watcher
		want []string
	}
	var ws []live
	for _, tc := range filterCases {
		want := strings.Fields(tc.want)
		ws = append(ws, live{tc.name + "/WatchAll", startWatch(t, watchAll(s, chronicle.EndPosition()), tc.filter), want})
		for _, stream := range filterStreams {
			var in []string
			for _, d := range filterData {
				if d.stream == stream && slices.Contains(want, d.id) {
					in = append(in, d.id)
				}
			}
			ws = append(ws, live{tc.name + "/Watch " + stream, startWatch(t, watchStream(s, stream, chronicle.FromEnd), tc.filter), in})
		}
	}
	for _, l := range ws {
		l.w.waitCaughtUp(t)
	}
	writeFilterData(t, s)
	for _, l := range ws {
		checkIDs(t, l.name, l.w.take(t, len(l.want)), l.want)
	}
	for _, l := range ws {
		if err := l.w.stop(t); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: %v", l.name, err)
		}
	}
}
