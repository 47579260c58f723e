package storetest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
)

var fieldTests = []test{
	{name: "RoundTrip", run: testFieldsRoundTrip},
	{name: "NoAliasing", run: testFieldsNoAliasing},
	{name: "Names", run: testFieldsNames},
}

// testFieldsRoundTrip: every field of an event reads back as written.
func testFieldsRoundTrip(t *testing.T, s *chronicle.Store) {
	zone := time.FixedZone("UTC+05:30", 5*3600+30*60)
	given := time.Date(2024, 2, 29, 23, 59, 58, 123456789, zone)
	binary := []byte{0, 1, 2, 0, 0xff, 0xfe, 0, '\n', 0}
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	cases := []struct {
		name string
		in   chronicle.EventData
	}{
		{"Plain", chronicle.EventData{Type: "Plain", Data: []byte(`{"n":1}`)}},
		{"NilData", chronicle.EventData{Type: "NilData"}},
		{"EmptyData", chronicle.EventData{Type: "EmptyData", Data: []byte{}}},
		{"Binary", chronicle.EventData{Type: "Binary", Data: binary}},
		{"Large", chronicle.EventData{Type: "Large", Data: big}},
		{"Metadata", chronicle.EventData{Type: "Meta", Metadata: json.RawMessage(`{"tenant":{"id":"t1","n":2},"tags":["a","b"],"ok":true,"x":null}`)}},
		{"MetadataSpaced", chronicle.EventData{Type: "Meta", Metadata: json.RawMessage(" {\n \"k\" : [1, 2.5, \"ü\"] }\n")}},
		{"MetadataEmptyObject", chronicle.EventData{Type: "Meta", Metadata: json.RawMessage(`{}`)}},
		{"GivenTime", chronicle.EventData{Type: "Timed", Time: given}},
		{"PreEpochTime", chronicle.EventData{Type: "Timed", Time: time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.FixedZone("UTC-3", -3*3600))}},
		{"FutureTime", chronicle.EventData{Type: "Timed", Time: time.Date(2199, 12, 31, 23, 59, 59, 1, time.UTC)}},
		{"UnicodeType", chronicle.EventData{Type: "Заказ.создан-🚀"}},
		{"CallerID", chronicle.EventData{ID: "caller-id-ü", Type: "Keyed"}},
		{"LongType", chronicle.EventData{Type: strings.Repeat("T", chronicle.MaxTypeLen)}},
		{"LongID", chronicle.EventData{ID: strings.Repeat("i", chronicle.MaxIDLen), Type: "Keyed"}},
	}
	in := make([]chronicle.EventData, len(cases))
	for i, c := range cases {
		in[i] = c.in
	}
	before := time.Now()
	res := mustAppend(t, s, "fields", chronicle.Any, in...)
	after := time.Now()

	check := func(how string, got []chronicle.Event) {
		t.Helper()
		if len(got) != len(cases) {
			t.Fatalf("%s: %d events, want %d", how, len(got), len(cases))
		}
		for i, c := range cases {
			e, w := got[i], c.in
			if e.Stream != "fields" || e.Version != int64(i+1) || e.Position != res.Positions[i] {
				t.Errorf("%s %s: at %q@%d %v, want %q@%d %v", how, c.name, e.Stream, e.Version, e.Position, "fields", i+1, res.Positions[i])
			}
			if e.Type != w.Type {
				t.Errorf("%s %s: type %q, want %q", how, c.name, e.Type, w.Type)
			}
			if w.ID != "" && e.ID != w.ID {
				t.Errorf("%s %s: ID %q, want %q", how, c.name, e.ID, w.ID)
			}
			if w.ID == "" && !isUUIDv7(e.ID) {
				t.Errorf("%s %s: assigned ID %q is not a UUIDv7", how, c.name, e.ID)
			}
			if !bytes.Equal(e.Data, w.Data) {
				t.Errorf("%s %s: data %q, want %q", how, c.name, short(e.Data), short(w.Data))
			}
			if len(w.Data) == 0 && e.Data != nil {
				t.Errorf("%s %s: data written empty reads as %#v, want nil", how, c.name, e.Data)
			}
			if w.Metadata == nil {
				if e.Metadata != nil {
					t.Errorf("%s %s: metadata %s, want nil", how, c.name, e.Metadata)
				}
			} else if !jsonEqual(e.Metadata, w.Metadata) {
				t.Errorf("%s %s: metadata %s, want %s", how, c.name, e.Metadata, w.Metadata)
			}
			if e.Time.Location() != time.UTC {
				t.Errorf("%s %s: time %v is not in UTC", how, c.name, e.Time)
			}
			if w.Time.IsZero() {
				if e.Time.Before(before.Add(-time.Second)) || e.Time.After(after.Add(time.Second)) {
					t.Errorf("%s %s: store-set time %v is not the time of the append (%v to %v)", how, c.name, e.Time, before, after)
				}
			} else if !e.Time.Equal(w.Time) || e.Time.Nanosecond() != w.Time.Nanosecond() {
				t.Errorf("%s %s: time %v, want %v", how, c.name, e.Time, w.Time.UTC())
			}
		}
	}
	check("Read", readStream(t, s, "fields", 0, nil))
	check("ReadAll", readAll(t, s, chronicle.Position{}, nil))
	rev := readStream(t, s, "fields", 0, &chronicle.ReadOptions{Backwards: true})
	slices.Reverse(rev)
	check("Read backwards", rev)
}

// jsonEqual reports whether a and b hold equal JSON values.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// testFieldsNoAliasing: the store keeps its own copy of what it is given,
// and hands out copies.
func testFieldsNoAliasing(t *testing.T, s *chronicle.Store) {
	data := []byte("original")
	meta := json.RawMessage(`{"k":"original"}`)
	mustAppend(t, s, "alias", chronicle.Any, chronicle.EventData{Type: "A", Data: data, Metadata: meta})
	copy(data, "XXXXXXXX")
	copy(meta, `{"k":"XXXXXXXX"}`)

	got := readStream(t, s, "alias", 0, nil)[0]
	if string(got.Data) != "original" || !jsonEqual(got.Metadata, []byte(`{"k":"original"}`)) {
		t.Fatalf("changing the caller's slices after Append changed the event: %q %s", got.Data, got.Metadata)
	}
	for i := range got.Data {
		got.Data[i] = 'Y'
	}
	for i := range got.Metadata {
		got.Metadata[i] = ' '
	}
	again := readStream(t, s, "alias", 0, nil)[0]
	if string(again.Data) != "original" || !jsonEqual(again.Metadata, []byte(`{"k":"original"}`)) {
		t.Fatalf("changing a returned event changed the store: %q %s", again.Data, again.Metadata)
	}
}

// testFieldsNames: the longest stream name and Unicode names work everywhere.
func testFieldsNames(t *testing.T, s *chronicle.Store) {
	names := []string{
		strings.Repeat("n", chronicle.MaxStreamNameLen),
		fitRunes("订单-ü-🚀", chronicle.MaxStreamNameLen), // multi-byte, at the limit
		"订单-ü-🚀",
		`o'brien"; --`,
		"with space",
	}
	for _, name := range names {
		if err := chronicle.ValidateStreamName(name); err != nil {
			t.Fatalf("ValidateStreamName(%q): %v", name, err)
		}
		mustAppend(t, s, name, chronicle.NoStream, ev("Named"))
		got := readStream(t, s, name, 0, nil)
		if len(got) != 1 || got[0].Stream != name {
			t.Fatalf("Read(%q): %d events", name, len(got))
		}
		if info := streamInfo(t, s, name); info.Stream != name || info.Version != 1 {
			t.Fatalf("StreamInfo(%q) = %+v", name, info)
		}
		if err := s.SaveSnapshot(testCtx(t), name, "", 1, []byte("x")); err != nil {
			t.Fatalf("SaveSnapshot(%q): %v", name, err)
		}
		if _, found, err := s.LoadSnapshot(testCtx(t), name, ""); err != nil || !found {
			t.Fatalf("LoadSnapshot(%q): found %v, %v", name, found, err)
		}
		if got := watchHistory(t, watchStream(s, name, 0), nil); len(got) != 1 {
			t.Fatalf("Watch(%q) replayed %d events", name, len(got))
		}
	}
	listed := mustCollect(t, s.ListStreams(testCtx(t), nil))
	var got []string
	for _, info := range listed {
		got = append(got, info.Stream)
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("ListStreams = %q, want %q", got, want)
	}
}

var validationTests = []test{
	{name: "StreamNames", run: testValidationStreamNames},
	{name: "ReservedNames", run: testValidationReserved},
	{name: "Events", run: testValidationEvents},
	{name: "ReadArguments", run: testValidationRead},
}

var badStreamNames = []struct{ name, stream string }{
	{"Empty", ""},
	{"TooLong", strings.Repeat("x", chronicle.MaxStreamNameLen+1)},
	{"TooLongUnicode", strings.Repeat("ü", chronicle.MaxStreamNameLen/2+1)},
	{"InvalidUTF8", "bad\xff\xfe"},
	{"Newline", "a\nb"},
	{"NUL", "a\x00b"},
	{"DEL", "a\x7fb"},
	{"Tab", "a\tb"},
	{"C1Control", "a\u0085b"},
	{"LineSeparator", "a\u2028b"},
	{"ReservedAll", "@all"}, // the Python original's name of the global stream
	{"Reserved", "@orders"},
}

// testValidationReserved: "@all", the Python original's name of the
// global stream, is refused with a message that points to ReadAll and
// WatchAll, and reading it does not read the global stream.
func testValidationReserved(t *testing.T, s *chronicle.Store) {
	ctx := testCtx(t)
	mustAppend(t, s, "a", chronicle.Any, ev("A"))
	_, err := s.Append(ctx, "@all", chronicle.Any, ev("A"))
	wantInvalid(t, "Append", err)
	if err == nil || !strings.Contains(err.Error(), "ReadAll") || !strings.Contains(err.Error(), "WatchAll") {
		t.Errorf("Append to @all: %v, want a message pointing to ReadAll and WatchAll", err)
	}
	var readErr error
	for _, err := range s.Read(ctx, "@all", 0, nil) {
		readErr = err
		break
	}
	wantInvalid(t, "Read of @all", readErr)
}

// testValidationStreamNames: a bad stream name is rejected by every method
// taking one, and nothing is written.
func testValidationStreamNames(t *testing.T, s *chronicle.Store) {
	for _, tc := range badStreamNames {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			if err := chronicle.ValidateStreamName(tc.stream); err == nil {
				t.Fatalf("ValidateStreamName(%q) accepted it", tc.stream)
			}
			_, err := s.Append(ctx, tc.stream, chronicle.Any, ev("A"))
			wantInvalid(t, "Append", err)
			_, err = s.Append(ctx, tc.stream, chronicle.Any)
			wantInvalid(t, "Append of an empty batch", err)
			wantInvalid(t, "Read", iterErr(t, s.Read(ctx, tc.stream, 0, nil)))
			wantInvalid(t, "Watch", iterErr(t, s.Watch(ctx, tc.stream, 0, nil)))
			_, err = s.StreamInfo(ctx, tc.stream)
			wantInvalid(t, "StreamInfo", err)
			wantInvalid(t, "SaveSnapshot", s.SaveSnapshot(ctx, tc.stream, "", 0, nil))
			_, _, err = s.LoadSnapshot(ctx, tc.stream, "")
			wantInvalid(t, "LoadSnapshot", err)
			if tc.stream != "" {
				wantInvalid(t, "StreamIs filter", iterErr(t, s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Filter: chronicle.Filter{chronicle.StreamIs(tc.stream)}})))
			}
		})
	}
	if st := stats(t, s); st.Events != 0 || st.Streams != 0 {
		t.Fatalf("rejected calls wrote something: %+v", st)
	}
}

// testValidationEvents: one invalid event rejects its whole batch.
func testValidationEvents(t *testing.T, s *chronicle.Store) {
	good := chronicle.EventData{Type: "Good", ID: "good"}
	cases := []struct {
		name string
		bad  chronicle.EventData
	}{
		{"EmptyType", chronicle.EventData{}},
		{"LongType", chronicle.EventData{Type: strings.Repeat("t", chronicle.MaxTypeLen+1)}},
		{"ControlInType", chronicle.EventData{Type: "A\nB"}},
		{"InvalidUTF8Type", chronicle.EventData{Type: "A\xc3"}},
		{"LongID", chronicle.EventData{Type: "A", ID: strings.Repeat("i", chronicle.MaxIDLen+1)}},
		{"ControlInID", chronicle.EventData{Type: "A", ID: "id\x00"}},
		{"MetadataArray", chronicle.EventData{Type: "A", Metadata: json.RawMessage(`[1,2]`)}},
		{"MetadataString", chronicle.EventData{Type: "A", Metadata: json.RawMessage(`"x"`)}},
		{"MetadataNumber", chronicle.EventData{Type: "A", Metadata: json.RawMessage(`42`)}},
		{"MetadataNull", chronicle.EventData{Type: "A", Metadata: json.RawMessage(`null`)}},
		{"MetadataBadJSON", chronicle.EventData{Type: "A", Metadata: json.RawMessage(`{bad json`)}},
		{"MetadataTrailing", chronicle.EventData{Type: "A", Metadata: json.RawMessage(`{} {}`)}},
		{"MetadataBlank", chronicle.EventData{Type: "A", Metadata: json.RawMessage(`   `)}},
		{"TimeBeforeRange", chronicle.EventData{Type: "A", Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"TimeAfterRange", chronicle.EventData{Type: "A", Time: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i, batch := range [][]chronicle.EventData{
				{tc.bad},
				{good, tc.bad},
				{tc.bad, good},
			} {
				_, err := s.Append(testCtx(t), "events", chronicle.Any, batch...)
				wantInvalid(t, sprintf("batch %d", i), err)
			}
		})
	}
	if st := stats(t, s); st.Events != 0 {
		t.Fatalf("rejected batches wrote %d events", st.Events)
	}
}

// testValidationRead: bad read arguments are rejected.
func testValidationRead(t *testing.T, s *chronicle.Store) {
	ctx := testCtx(t)
	mustAppend(t, s, "r", chronicle.Any, ev("A"))
	wantInvalid(t, "Read from -1", iterErr(t, s.Read(ctx, "r", -1, nil)))
	wantInvalid(t, "Read limit -1", iterErr(t, s.Read(ctx, "r", 0, &chronicle.ReadOptions{Limit: -1})))
	wantInvalid(t, "ReadAll limit -1", iterErr(t, s.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Limit: -1})))
	wantInvalid(t, "Watch from -2", iterErr(t, s.Watch(ctx, "r", -2, nil)))
	wantInvalid(t, "ListStreams limit -1", iterErr(t, s.ListStreams(ctx, &chronicle.ListStreamsOptions{Limit: -1})))
	wantInvalid(t, "ListStreams prefix with NUL", iterErr(t, s.ListStreams(ctx, &chronicle.ListStreamsOptions{Prefix: "a\x00"})))
}
