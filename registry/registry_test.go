package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/registry"
	"github.com/chronicle-go/chronicle/sqlite"
)

type Opened struct {
	Owner string `json:"owner"`
}

// Withdrawn is at version 3: version 1 had "amount" in whole units,
// version 2 "cents", version 3 adds "currency".
type Withdrawn struct {
	Cents    int64  `json:"cents"`
	Currency string `json:"currency"`
}

type Deposited struct {
	Cents int64 `json:"cents"`
}

func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	r := registry.New(nil)
	for _, err := range []error{
		registry.Register[Opened](r, "AccountOpened", registry.Aliases("Opened")),
		registry.Register[Deposited](r, "Deposited"),
		registry.Register[Withdrawn](r, "Withdrawn", registry.Version(3),
			registry.Upcast(1, registry.UpcastJSON(func(o map[string]any) error {
				units, _ := o["amount"].(float64)
				delete(o, "amount")
				o["cents"] = units * 100
				return nil
			})),
			registry.Upcast(2, registry.UpcastJSON(func(o map[string]any) error {
				o["currency"] = "EUR"
				return nil
			}))),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestRegisterRefuses(t *testing.T) {
	up := func([]byte) ([]byte, error) { return nil, nil }
	type A struct{}
	type B struct{}
	for _, tc := range []struct {
		name     string
		register func(r *registry.Registry) error
	}{
		{"pointer", func(r *registry.Registry) error { return registry.Register[*A](r, "A") }},
		{"interface", func(r *registry.Registry) error { return registry.Register[error](r, "A") }},
		{"empty name", func(r *registry.Registry) error { return registry.Register[A](r, "") }},
		{"control character", func(r *registry.Registry) error { return registry.Register[A](r, "A\n") }},
		{"version 0", func(r *registry.Registry) error { return registry.Register[A](r, "A", registry.Version(0)) }},
		{"no upcasters", func(r *registry.Registry) error { return registry.Register[A](r, "A", registry.Version(2)) }},
		{"a gap", func(r *registry.Registry) error {
			return registry.Register[A](r, "A", registry.Version(3), registry.Upcast(2, up))
		}},
		{"beyond the version", func(r *registry.Registry) error {
			return registry.Register[A](r, "A", registry.Version(2), registry.Upcast(1, up), registry.Upcast(2, up))
		}},
		{"upcaster from 0", func(r *registry.Registry) error { return registry.Register[A](r, "A", registry.Upcast(0, up)) }},
		{"two upcasters", func(r *registry.Registry) error {
			return registry.Register[A](r, "A", registry.Version(2), registry.Upcast(1, up), registry.Upcast(1, up))
		}},
		{"nil upcaster", func(r *registry.Registry) error {
			return registry.Register[A](r, "A", registry.Version(2), registry.Upcast(1, nil))
		}},
		{"alias is the name", func(r *registry.Registry) error { return registry.Register[A](r, "A", registry.Aliases("A")) }},
		{"type twice", func(r *registry.Registry) error {
			_ = registry.Register[A](r, "A")
			return registry.Register[A](r, "A2")
		}},
		{"name taken", func(r *registry.Registry) error {
			_ = registry.Register[A](r, "A")
			return registry.Register[B](r, "A")
		}},
		{"alias taken", func(r *registry.Registry) error {
			_ = registry.Register[A](r, "A", registry.Aliases("Old"))
			return registry.Register[B](r, "B", registry.Aliases("Old"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := registry.New(nil)
			if err := tc.register(r); !errors.Is(err, chronicle.ErrInvalid) {
				t.Fatalf("Register = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestEncodeDecode(t *testing.T) {
	r := newRegistry(t)
	for _, v := range []any{Opened{Owner: "ann"}, Deposited{Cents: 500}, Withdrawn{Cents: 250, Currency: "USD"}} {
		ed, err := r.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Decode(chronicle.Event{Type: ed.Type, Data: ed.Data, Metadata: ed.Metadata})
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("%T: Decode(Encode) = %#v, %v", v, got, err)
		}
	}
	ed, _ := r.Encode(Opened{})
	if ed.Type != "AccountOpened" || ed.Metadata != nil {
		t.Errorf("Opened encodes as %q with metadata %s", ed.Type, ed.Metadata)
	}
	ed, _ = r.Encode(Withdrawn{})
	if string(ed.Metadata) != `{"schema_version":3}` {
		t.Errorf("Withdrawn's metadata %s", ed.Metadata)
	}
	if _, err := r.Encode(struct{}{}); !errors.Is(err, registry.ErrUnknownType) {
		t.Errorf("Encode of an unregistered type: %v", err)
	}
	if _, err := r.Encode(&Deposited{}); !errors.Is(err, registry.ErrUnknownType) {
		t.Errorf("Encode of a pointer: %v", err)
	}
}

// TestDecodeOldEvents: events written in older shapes, under old names,
// decode as today's types; unknown types and versions are errors that say
// so.
func TestDecodeOldEvents(t *testing.T) {
	r := newRegistry(t)
	meta := func(v string) json.RawMessage { return json.RawMessage(`{"tenant":"t1","schema_version":` + v + `}`) }
	for _, tc := range []struct {
		name string
		ev   chronicle.Event
		want any
		err  error
	}{
		{"renamed type", chronicle.Event{Type: "Opened", Data: []byte(`{"owner":"bo"}`)}, Opened{Owner: "bo"}, nil},
		{"version 1, no metadata", chronicle.Event{Type: "Withdrawn", Data: []byte(`{"amount":3}`)}, Withdrawn{Cents: 300, Currency: "EUR"}, nil},
		{"version 1, other metadata", chronicle.Event{Type: "Withdrawn", Data: []byte(`{"amount":3}`), Metadata: json.RawMessage(`{"tenant":"t1"}`)},
			Withdrawn{Cents: 300, Currency: "EUR"}, nil},
		{"version 2", chronicle.Event{Type: "Withdrawn", Data: []byte(`{"cents":42}`), Metadata: meta("2")}, Withdrawn{Cents: 42, Currency: "EUR"}, nil},
		{"version 3", chronicle.Event{Type: "Withdrawn", Data: []byte(`{"cents":42,"currency":"USD"}`), Metadata: meta("3")},
			Withdrawn{Cents: 42, Currency: "USD"}, nil},
		{"empty data", chronicle.Event{Type: "Deposited"}, Deposited{}, nil},
		{"unknown type", chronicle.Event{Type: "Closed"}, nil, registry.ErrUnknownType},
		{"newer version", chronicle.Event{Type: "Withdrawn", Data: []byte(`{}`), Metadata: meta("4")}, nil, registry.ErrVersion},
		{"version 0", chronicle.Event{Type: "Withdrawn", Data: []byte(`{}`), Metadata: meta("0")}, nil, registry.ErrVersion},
		{"version not a number", chronicle.Event{Type: "Withdrawn", Data: []byte(`{}`), Metadata: meta(`"2"`)}, nil, registry.ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Decode(tc.ev)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Decode = %v, %v; want %v", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode = %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
	if _, err := r.Decode(chronicle.Event{Type: "Deposited", Data: []byte(`not json`)}); err == nil {
		t.Error("Decode of malformed data succeeded")
	}
}

// upperCodec is a codec of its own: JSON in upper case keys is enough to
// tell it was used.
type upperCodec struct{ calls *int }

func (c upperCodec) Marshal(v any) ([]byte, error) {
	*c.calls++
	return json.Marshal(map[string]any{"V": v})
}

func (c upperCodec) Unmarshal(data []byte, v any) error {
	*c.calls++
	var w struct{ V json.RawMessage }
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	return json.Unmarshal(w.V, v)
}

func TestCodec(t *testing.T) {
	calls := 0
	r := registry.New(&registry.Options{Codec: upperCodec{&calls}})
	registry.MustRegister[Deposited](r, "Deposited")
	ed, err := r.Encode(Deposited{Cents: 7})
	if err != nil || string(ed.Data) != `{"V":{"cents":7}}` {
		t.Fatalf("Encode = %s, %v", ed.Data, err)
	}
	got, err := r.Decode(chronicle.Event{Type: ed.Type, Data: ed.Data})
	if err != nil || got != (Deposited{Cents: 7}) || calls != 2 {
		t.Fatalf("Decode = %v, %v after %d codec calls", got, err, calls)
	}
}

// TestThroughTheStore: events appended through the registry, and others
// written by hand in older shapes, read back through a real store decode as
// today's types.
func TestThroughTheStore(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := newRegistry(t)
	var evs []chronicle.EventData
	for _, v := range []any{Opened{Owner: "cy"}, Deposited{Cents: 900}, Withdrawn{Cents: 100, Currency: "USD"}} {
		ed, err := r.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ed)
	}
	evs = append(evs,
		chronicle.EventData{Type: "Opened", Data: []byte(`{"owner":"old"}`)},
		chronicle.EventData{Type: "Withdrawn", Data: []byte(`{"amount":2}`)})
	if _, err := s.Append(ctx, "acct-1", chronicle.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	var got []any
	for ev, err := range s.Read(ctx, "acct-1", 0, nil) {
		if err != nil {
			t.Fatal(err)
		}
		v, err := r.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := []any{Opened{Owner: "cy"}, Deposited{Cents: 900}, Withdrawn{Cents: 100, Currency: "USD"},
		Opened{Owner: "old"}, Withdrawn{Cents: 200, Currency: "EUR"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %v, want %v", got, want)
	}
	if names := r.Types(); fmt.Sprint(names) != "[AccountOpened Deposited Withdrawn]" {
		t.Errorf("Types = %v", names)
	}
}

// TestDecodeAll: events of unknown types are skipped while live and fail
// while replaying by default; Skip and Fail decide alike either way.
func TestDecodeAll(t *testing.T) {
	events := []chronicle.Event{
		{Type: "Deposited", Data: []byte(`{"cents":1}`)},
		{Type: "FromTheFuture", Data: []byte(`{}`)},
		{Type: "Deposited", Data: []byte(`{"cents":2}`)},
	}
	for _, tc := range []struct {
		name      string
		unknown   registry.Unknown
		replaying bool
		fails     bool
	}{
		{"default, live", registry.SkipUnlessReplaying, false, false},
		{"default, replaying", registry.SkipUnlessReplaying, true, true},
		{"skip, replaying", registry.Skip, true, false},
		{"fail, live", registry.Fail, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := registry.New(&registry.Options{Unknown: tc.unknown})
			registry.MustRegister[Deposited](r, "Deposited")
			got, err := r.DecodeAll(events, tc.replaying)
			if tc.fails {
				if !errors.Is(err, registry.ErrUnknownType) {
					t.Fatalf("DecodeAll = %v, %v; want ErrUnknownType", got, err)
				}
				return
			}
			if err != nil || len(got) != 2 || got[0].Value != (Deposited{Cents: 1}) || got[1].Value != (Deposited{Cents: 2}) || got[1].Type != "Deposited" {
				t.Fatalf("DecodeAll = %+v, %v", got, err)
			}
		})
	}
	r := newRegistry(t)
	if err := r.Require("Deposited", "Opened", "AccountOpened"); err != nil {
		t.Errorf("Require of registered names and aliases: %v", err)
	}
	if err := r.Require("Deposited", "Closed", "Frozen"); !errors.Is(err, registry.ErrUnknownType) ||
		!strings.Contains(err.Error(), "Closed, Frozen") {
		t.Errorf("Require of unknown names: %v", err)
	}
}

// TestMetadata: the caller's metadata and the schema version travel
// together; an event of version 2 read with a whole-number float version
// decodes; empty data of an old version upcasts from an empty object.
func TestMetadata(t *testing.T) {
	r := newRegistry(t)
	ed, err := r.EncodeWithMetadata(Withdrawn{Cents: 5, Currency: "USD"}, json.RawMessage(`{"tenant":"t1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(ed.Metadata, &m); err != nil || m["tenant"] != "t1" || m["schema_version"] != float64(3) {
		t.Fatalf("metadata %s", ed.Metadata)
	}
	got, err := r.Decode(chronicle.Event{Type: ed.Type, Data: ed.Data, Metadata: ed.Metadata})
	if err != nil || got != (Withdrawn{Cents: 5, Currency: "USD"}) {
		t.Fatalf("Decode = %v, %v", got, err)
	}
	ed, err = r.EncodeWithMetadata(Deposited{Cents: 1}, json.RawMessage(`{"tenant":"t1"}`))
	if err != nil || string(ed.Metadata) != `{"tenant":"t1"}` {
		t.Fatalf("version 1 with metadata: %s, %v", ed.Metadata, err)
	}
	for _, bad := range []string{`[1]`, `"x"`, `{"schema_version":1}`} {
		if _, err := r.EncodeWithMetadata(Deposited{}, json.RawMessage(bad)); !errors.Is(err, chronicle.ErrInvalid) {
			t.Errorf("metadata %s: %v, want ErrInvalid", bad, err)
		}
	}
	got, err = r.Decode(chronicle.Event{Type: "Withdrawn", Data: []byte(`{"cents":7}`), Metadata: json.RawMessage(`{"schema_version":2.0}`)})
	if err != nil || got != (Withdrawn{Cents: 7, Currency: "EUR"}) {
		t.Errorf("version 2.0: %v, %v", got, err)
	}
	got, err = r.Decode(chronicle.Event{Type: "Withdrawn", Metadata: json.RawMessage(`{"schema_version":2}`)})
	if err != nil || got != (Withdrawn{Currency: "EUR"}) {
		t.Errorf("empty data at version 2: %v, %v", got, err)
	}
	if _, err := r.Encode(&Deposited{}); !errors.Is(err, registry.ErrUnknownType) || !strings.Contains(err.Error(), "not a pointer") {
		t.Errorf("Encode of a pointer: %v", err)
	}
}

// TestValues: a watch's events decode as they come; an unknown type is
// skipped (or ends the sequence with Fail); the watch's error ends it.
func TestValues(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := sqlite.Open(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(ctx, "a", chronicle.Any,
		chronicle.EventData{Type: "Deposited", Data: []byte(`{"cents":1}`)},
		chronicle.EventData{Type: "Unknown"},
		chronicle.EventData{Type: "Deposited", Data: []byte(`{"cents":2}`)}); err != nil {
		t.Fatal(err)
	}
	r := newRegistry(t)
	var got []any
	for d, err := range r.Values(s.Watch(ctx, "a", 0, nil)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Value)
		if len(got) == 2 {
			cancel()
			break
		}
	}
	if fmt.Sprint(got) != "[{1} {2}]" {
		t.Fatalf("values %v", got)
	}
	strict := registry.New(&registry.Options{Unknown: registry.Fail})
	registry.MustRegister[Deposited](strict, "Deposited")
	n := 0
	for _, err := range strict.Values(s.Read(context.Background(), "a", 0, nil)) {
		if err != nil {
			if !errors.Is(err, registry.ErrUnknownType) || n != 1 {
				t.Fatalf("after %d values: %v", n, err)
			}
			return
		}
		n++
	}
	t.Fatal("Fail did not end the sequence at the unknown type")
}
