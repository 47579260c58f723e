package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
)

var eventByIDTests = []test{
	{name: "Lookups", run: testEventByIDLookups},
	{name: "Invalid", run: testEventByIDInvalid},
}

// testEventByIDLookups: EventByID finds an event by the ID its caller gave,
// field for field as Read returns it, only in its own stream; an ID the
// store assigned is not a key and is not found, nor is a missing ID or
// stream, without an error.
func testEventByIDLookups(t *testing.T, s *chronicle.Store) {
	ctx := testCtx(t)
	mustAppend(t, s, "a", chronicle.Any, ev("Pad"), ev("Pad"))
	res := mustAppend(t, s, "a", chronicle.Any,
		chronicle.EventData{ID: "cmd-1/0", Type: "Opened", Data: []byte(`{"n":1}`), Metadata: []byte(`{"by":"x"}`)},
		ev("Unkeyed"))
	mustAppend(t, s, "b", chronicle.Any, keyed("cmd-1/0", "Other"))
	var stored []chronicle.Event
	for e, err := range s.Read(ctx, "a", 2, nil) {
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, e)
	}
	if len(stored) != 2 || stored[0].Position != res.Positions[0] {
		t.Fatalf("read back %d events", len(stored))
	}
	for _, tc := range []struct {
		stream, id string
		want       *chronicle.Event
	}{
		{"a", "cmd-1/0", &stored[0]},
		{"a", stored[1].ID, nil}, // assigned by the store: not a key
		{"a", "cmd-1/1", nil},
		{"a", strings.ToUpper(stored[1].ID), nil},
		{"b", stored[1].ID, nil},
		{"missing", "cmd-1/0", nil},
	} {
		got, found, err := s.EventByID(ctx, tc.stream, tc.id)
		switch {
		case err != nil:
			t.Errorf("EventByID(%q, %q): %v", tc.stream, tc.id, err)
		case tc.want == nil && found:
			t.Errorf("EventByID(%q, %q) found %+v, want nothing", tc.stream, tc.id, got)
		case tc.want != nil && !found:
			t.Errorf("EventByID(%q, %q) found nothing", tc.stream, tc.id)
		case tc.want != nil:
			if d := diffEvent(*tc.want, got); d != "" {
				t.Errorf("EventByID(%q, %q): %s", tc.stream, tc.id, d)
			}
		}
	}
	got, found, err := s.EventByID(ctx, "b", "cmd-1/0")
	if err != nil || !found || got.Stream != "b" || got.Type != "Other" {
		t.Errorf("EventByID(b, cmd-1/0) = %+v, %v, %v; want b's event", got, found, err)
	}
}

// testEventByIDInvalid: an invalid stream name or ID is refused with
// ErrInvalid.
func testEventByIDInvalid(t *testing.T, s *chronicle.Store) {
	ctx := testCtx(t)
	for _, tc := range []struct{ stream, id string }{
		{"", "x"},
		{"a", ""},
		{"a\x00b", "x"},
		{"a", "x\x00"},
		{"a", strings.Repeat("x", chronicle.MaxIDLen+1)},
	} {
		_, found, err := s.EventByID(ctx, tc.stream, tc.id)
		if !errors.Is(err, chronicle.ErrInvalid) || found {
			t.Errorf("EventByID(%q, %q) = %v, %v; want ErrInvalid", tc.stream, tc.id, found, err)
		}
	}
}
