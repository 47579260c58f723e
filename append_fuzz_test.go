package chronicle_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/internal/memback"
)

// FuzzAppendInput appends one event built from arbitrary stream name, type,
// ID, data and metadata. Append must not panic; it either stores the event
// exactly as given (read back field by field) or fails with ErrInvalid and
// stores nothing.
func FuzzAppendInput(f *testing.F) {
	f.Add("orders-1", "Placed", "", []byte(`{"n":1}`), []byte(`{"user":"u1"}`))
	f.Add("订单-ü-🚀", "Größe geändert", "id-1", []byte{0, 1, 2}, []byte(`{"a":{"b":[1,2,{"c":null}]}}`))
	f.Add("s", "", "", []byte(nil), []byte(nil))
	f.Add("s", "T", "", []byte("x"), []byte(`{"unterminated":`))
	f.Add("s", "T", "", []byte("x"), []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Add("s", "T\x00", "", []byte("x"), []byte(nil))
	f.Add("x' OR '1'='1", "'; DROP TABLE events; --", "\xff", []byte("x"), []byte(`"just a string"`))
	f.Fuzz(func(t *testing.T, stream, typ, id string, data, meta []byte) {
		s, err := chronicle.New(memback.New(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := t.Context()
		in := chronicle.EventData{ID: id, Type: typ, Data: data, Metadata: meta}
		_, err = s.Append(ctx, stream, chronicle.Any, in)
		stats, serr := s.Stats(ctx)
		if serr != nil {
			t.Fatal(serr)
		}
		if err != nil {
			var ve *chronicle.ValidationError
			if !errors.Is(err, chronicle.ErrInvalid) || !errors.As(err, &ve) {
				t.Fatalf("Append failed with %v, not a ValidationError", err)
			}
			if stats.Events != 0 {
				t.Fatalf("a refused append stored %d events", stats.Events)
			}
			return
		}
		if len(meta) > 0 && !json.Valid(meta) {
			t.Fatalf("accepted metadata that is not JSON: %q", meta)
		}
		n := 0
		for ev, err := range s.Read(ctx, stream, 0, nil) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			if ev.Type != typ || !bytes.Equal(ev.Data, data) || !bytes.Equal(ev.Metadata, meta) || (id != "" && ev.ID != id) {
				t.Fatalf("read back %+v, appended %+v", ev, in)
			}
		}
		if n != 1 {
			t.Fatalf("read %d events back", n)
		}
	})
}
