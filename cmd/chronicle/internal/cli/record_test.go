package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chronicle-go/chronicle"
)

// FuzzEventJSON: every event survives the JSON line that read --json and
// export write, as import reads it: the same ID, type, time and bytes of
// data and metadata, on one line.
func FuzzEventJSON(f *testing.F) {
	f.Add("id-1", "OrderPlaced", []byte(`{"total":12}`), []byte(`{"tenant":"acme"}`), int64(1764669600000000000))
	f.Add("", "T", []byte("not json"), []byte(`{"a": [1, 2]}`), int64(-1))
	f.Add("x", "T\u2028", []byte("{\n}"), []byte("{\"k\":\"line\\nbreak\"}"), int64(0))
	f.Add("x", "T", []byte(`"a string"`), []byte(nil), int64(42))
	f.Add("x", "T", []byte{0, 0xff, '\r'}, []byte("{\r\n}"), int64(7))
	f.Add("x", "T", []byte(` {"a":1}`), []byte(`{"k": 1} `), int64(8))
	f.Add("x", "T", []byte("{\"s\":\"\xff\"}"), []byte("{\"s\":\"\xfe\"}"), int64(9))
	f.Fuzz(func(t *testing.T, id, typ string, data, meta []byte, nanos int64) {
		if chronicle.ValidateEventType(typ) != nil || id != "" && chronicle.ValidateEventType(id) != nil ||
			len(meta) > 0 && (!json.Valid(meta) || meta[0] != '{') {
			t.Skip() // the store refuses these (IDs follow the rules of types)
		}
		in := chronicle.Event{Stream: "s", Version: 3, Position: chronicle.At(9), ID: id, Type: typ,
			Data: data, Metadata: meta, Time: time.Unix(0, nanos).UTC()}
		line := appendEventJSON(nil, &in)
		if !utf8.Valid(line) || !json.Valid(bytes.TrimSpace(line)) {
			t.Fatalf("not a valid JSON line: %q", line)
		}
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("not one line: %q", line)
		}
		r, err := parseRecord(line)
		if err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		out, err := r.event()
		if err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if r.Stream != in.Stream || r.Version != in.Version || r.Position != in.Position.String() {
			t.Errorf("stream, version, position = %q %d %q from %s", r.Stream, r.Version, r.Position, line)
		}
		if out.ID != in.ID || out.Type != in.Type || !out.Time.Equal(in.Time) ||
			!bytes.Equal(out.Data, in.Data) || !bytes.Equal(out.Metadata, in.Metadata) {
			t.Errorf("round trip changed the event:\n in %+v\nout %+v\nline %s", in, out, line)
		}
	})
}
