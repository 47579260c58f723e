package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
)

// exportFile exports the store at db into a file and returns its path.
func exportFile(t *testing.T, db string, args ...string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "export.jsonl")
	if code, _, errOut := run(t, append([]string{"--db", db, "export", "-o", file}, args...)...); code != 0 {
		t.Fatalf("export: exit %d, stderr:\n%s", code, errOut)
	}
	return file
}

// TestImportRoundTrip: export, then import into a new store, gives the
// same events (positions aside), whatever their payloads; importing again
// writes nothing.
func TestImportRoundTrip(t *testing.T) {
	src := richFile(t)
	file := exportFile(t, src)
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), `"data_base64"`) || !strings.Contains(string(b), `"metadata_base64"`) {
		t.Fatalf("the export has no base64 payloads:\n%s", b)
	}
	dst := filepath.Join(t.TempDir(), "new.db")
	code, out, errOut := run(t, "--db", dst, "import", file)
	if code != 0 || errOut != "" || out != file+": 8 events of 4 streams read: 8 written (in 4 appends), 0 already there\n" {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := storeEvents(t, openSQLite(t, src))
	target := openSQLite(t, dst)
	sameEvents(t, storeEvents(t, target), want, false)
	st, err := target.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	// Again, from stdin: nothing is written.
	input, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runIn(t, string(input), "--db", dst, "import", "-")
	if code != 0 || out != "stdin: 8 events of 4 streams read: 0 written, 8 already there\n" {
		t.Fatalf("import again: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if st2, err := target.Stats(t.Context()); err != nil || st2 != st {
		t.Errorf("after importing again: %+v, %v; want %+v", st2, err, st)
	}
	sameEvents(t, storeEvents(t, target), want, false)

	// One stream's export into the store again: verified, nothing new.
	code, out, _ = run(t, "--db", dst, "import", exportFile(t, src, "order-1"))
	if code != 0 || !strings.Contains(out, "3 events of 1 streams read: 0 written, 3 already there") {
		t.Errorf("import of a stream: exit %d, stdout %q", code, out)
	}
}

// TestImportResume: a store that holds a prefix of each stream (as an
// interrupted import leaves it) gets the rest; small batches give the
// same events.
func TestImportResume(t *testing.T) {
	src := richFile(t)
	file := exportFile(t, src)
	dst := filepath.Join(t.TempDir(), "new.db")
	st := openSQLite(t, dst)
	for _, r := range richEvents[:4] {
		if _, err := st.Append(t.Context(), r.stream, chronicle.Any, r.event); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := run(t, "--db", dst, "import", file, "--batch", "1", "--parallel", "3")
	if code != 0 || out != file+": 8 events of 4 streams read: 4 written (in 4 appends), 4 already there\n" {
		t.Fatalf("import: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	sameEvents(t, storeEvents(t, st), storeEvents(t, openSQLite(t, src)), false)
}

const header = `{"chronicle_export":1,"store":"sqlite","head":"9","time":"2026-12-01T10:00:00Z"}` + "\n"

// ev is one line of an export.
func ev(stream string, version int64, id string) string {
	return fmt.Sprintf(`{"stream":%q,"version":%d,"position":"%d","id":%q,"type":"T","time":"2026-12-01T10:00:00Z","data":{"v":%d}}`+"\n",
		stream, version, version, id, version)
}

// TestImportConflict: an event at a version the store has with another ID
// fails the import with the file's line, and nothing of that stream's
// batch is written.
func TestImportConflict(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "new.db")
	st := openSQLite(t, dst)
	for _, id := range []string{"c1", "c2"} {
		if _, err := st.Append(t.Context(), "c", chronicle.Any, chronicle.EventData{ID: id, Type: "T"}); err != nil {
			t.Fatal(err)
		}
	}
	input := header + ev("c", 1, "c1") + ev("d", 1, "d1") + ev("c", 2, "other") + ev("c", 3, "c3")
	code, out, errOut := runIn(t, input, "--db", dst, "import", "-")
	if code != exitFail || out != "" ||
		!strings.Contains(errOut, `line 4: stream "c" version 2 conflicts with the target: the event there has ID "c2", the file's has ID "other"`) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if info, err := st.StreamInfo(t.Context(), "c"); err != nil || info.Version != 2 {
		t.Errorf("stream c: %+v, %v; want version 2 still", info, err)
	}
}

// TestImportBadInput: what is not an export, or breaks a stream's order,
// fails with the line; a bad header creates no store.
func TestImportBadInput(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "new.db")
	for _, tc := range []struct {
		input, want string
	}{
		{"", "stdin is empty: not a chronicle export"},
		{ev("a", 1, "a1"), "stdin line 1: not the header of a chronicle export"},
		{"\n" + `{"chronicle_export":2}` + "\n", "stdin line 2: export format version 2, but this chronicle reads version 1 only"},
		{`{"chronicle_export":"1"}` + "\n", "not the header"},
	} {
		code, _, errOut := runIn(t, tc.input, "--db", db, "import", "-")
		if code != exitFail || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %q", tc.input, code, errOut, tc.want)
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("a bad header created the store")
	}
	for _, tc := range []struct {
		input, want string
	}{
		{header + ev("a", 1, "a1") + "{oops\n", "line 3: not an event"},
		{header + ev("a", 1, "a1") + `{"stream":"a","version":2,"id":"x","type":"T","extra":1}` + "\n", `line 3: not an event: json: unknown field "extra"`},
		{header + ev("a", 1, "a1") + ev("a", 3, "a3"), `line 3: stream "a": version 3 after version 1`},
		{header + ev("a", 1, "a1") + ev("a", 1, "a1"), `line 3: stream "a": version 1 after version 1`},
		{header + ev("a", 0, "a0"), "line 2: version 0"},
		{header + `{"stream":"a","version":1,"type":"T"}` + "\n", "line 2: the event has no ID"},
		{header + `{"version":1,"id":"x","type":"T"}` + "\n", `line 2: "stream" is missing`},
		{header + `{"stream":"a","version":1,"id":"x"}` + "\n", `line 2: "type" is missing`},
		{header + `{"stream":"a\u0001","version":1,"id":"x","type":"T"}` + "\n", "line 2: chronicle: invalid stream"},
		{header + ev("a", 1, "x") + ev("a", 2, "x"), `line 3: stream "a": event ID "x" of version 2 repeats that of version 1 (line 2)`},
		{header + `{"stream":"a","version":1,"id":"x","type":"T","metadata":[1]}` + "\n", `line 2: stream "a" version 1: chronicle: invalid events[0].Metadata`},
		{header + ev("b", 2, "b2"), `line 2: stream "b": version 2, but the target's stream is at version 0`},
	} {
		code, _, errOut := runIn(t, tc.input, "--db", db, "import", "-")
		if code != exitFail || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %q", tc.input, code, errOut, tc.want)
		}
	}
	if code, _, errOut := run(t, "--db", db, "import", filepath.Join(dir, "missing.jsonl")); code != exitFail || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	for _, args := range [][]string{{"import"}, {"import", "a", "b"}, {"import", "-", "--batch", "0"}, {"import", "-", "--parallel", "0"}} {
		if code, _, _ := run(t, append([]string{"--db", db}, args...)...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestImportSmallMemory: with little memory for pending events and for
// streams, the engine writes the oldest batches early and forgets idle
// streams, and the result is the same.
func TestImportSmallMemory(t *testing.T) {
	small := tuning{heldBytes: 8 << 10, maxStreams: 4}
	const streams, events = 12, 40
	src := interleaved(t, streams, events)
	file := exportFile(t, src)
	dst := filepath.Join(t.TempDir(), "dst.db")
	code, out, errOut := runTuned(t.Context(), small, strings.NewReader(""), "--db", dst, "import", file, "--parallel", "3")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d events of %d streams read: %d written", streams*events, streams, streams*events)) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if n := appendsRE.FindStringSubmatch(out); n == nil || n[2] == fmt.Sprint(streams) {
		t.Errorf("want more appends than streams (small batches): %q", out)
	}
	sameEvents(t, storeEvents(t, openSQLite(t, dst)), storeEvents(t, openSQLite(t, src)), false)
	code, out, _ = runTuned(t.Context(), small, strings.NewReader(""), "--db", dst, "import", file)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d events of %d streams read: 0 written, %d already there", streams*events, streams, streams*events)) {
		t.Errorf("again: exit %d, stdout %q", code, out)
	}
}

// TestImportPartialStream: a file whose stream starts after version 1
// continues the target's stream, unless an ID of it is there already at an
// earlier version: then nothing of the batch is written.
func TestImportPartialStream(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "new.db")
	st := openSQLite(t, dst)
	if _, err := st.Append(t.Context(), "s", chronicle.Any, chronicle.EventData{ID: "pre", Type: "T"}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runIn(t, header+ev("s", 2, "pre")+ev("s", 3, "n"), "--db", dst, "import", "-")
	if code != exitFail || !strings.Contains(errOut, `line 2: stream "s" version 2 conflicts with the target: its ID "pre" is there at version 1 already`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if info, err := st.StreamInfo(t.Context(), "s"); err != nil || info.Version != 1 {
		t.Errorf("stream s: %+v, %v; want version 1 still", info, err)
	}
	if code, out, errOut := runIn(t, header+ev("s", 2, "n2")+ev("s", 3, "n3"), "--db", dst, "import", "-"); code != 0 || !strings.Contains(out, "2 written") {
		t.Errorf("continuing the stream: exit %d, %q %q", code, out, errOut)
	}
}
