package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/sqlite"
)

// headerTime is the time of an export's header, which changes every run.
var headerTime = regexp.MustCompile(`^(\{"chronicle_export":1,[^\n]*"time":)"[^"]*"`)

// checkHeader checks the first line of an export made between start and
// now, and returns the export with the header's time replaced by TIME.
func checkHeader(t *testing.T, export string, start time.Time, store, head string) string {
	t.Helper()
	first, _, _ := strings.Cut(export, "\n")
	var h exportHeader
	if err := json.Unmarshal([]byte(first), &h); err != nil {
		t.Fatalf("header %q: %v", first, err)
	}
	if h.Format != 1 || h.Store != store || h.Head != head || h.Time.Before(start) || h.Time.After(time.Now()) || h.Time.Location() != time.UTC {
		t.Errorf("header %q: want format 1, store %s, head %s, a time from %v to now in UTC", first, store, head, start)
	}
	return headerTime.ReplaceAllString(export, `$1"TIME"`)
}

func TestExportGolden(t *testing.T) {
	db := fixtureFile(t)
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"export-all.jsonl", []string{"export"}},
		{"export-all.jsonl", []string{"export", "--all", "-o", "-"}},
		{"export-streams.jsonl", []string{"export", "blob", "order-1"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			start := time.Now()
			code, out, errOut := run(t, append([]string{"--db", db}, tc.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, errOut)
			}
			golden(t, tc.golden, checkHeader(t, out, start, "sqlite", "6"))
		})
	}
}

// TestExportFile: -o writes the same lines as stdout, atomically, with a
// summary on stderr; an interrupted export leaves no file behind and an
// existing FILE as it was.
func TestExportFile(t *testing.T) {
	db := fixtureFile(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "out.jsonl")
	start := time.Now()
	code, out, errOut := run(t, "--db", db, "export", "-o", file)
	if code != 0 || out != "" || errOut != "exported 6 events of 4 streams to "+file+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "export-all.jsonl", checkHeader(t, string(b), start, "sqlite", "6"))
	code, _, errOut = run(t, "--db", db, "export", "order-1", "log", "--output", file)
	if code != 0 || errOut != "exported 4 events of 2 streams to "+file+"\n" {
		t.Errorf("streams: exit %d, stderr %q", code, errOut)
	}

	// Interrupted after 3 events: the old file stays, no temporary file.
	if err := os.WriteFile(file, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stopAt3 := tuning{written: func(n int64) {
		if n == 3 {
			cancel()
		}
	}}
	code, _, errOut = runTuned(ctx, stopAt3, strings.NewReader(""), "--db", db, "export", "-o", file)
	if code != exitInterrupted || !strings.Contains(errOut, "interrupted") {
		t.Errorf("interrupted export: exit %d, stderr %q", code, errOut)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "old\n" {
		t.Errorf("the interrupted export changed %s: %q, %v", file, b, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d files in the directory, want only out.jsonl: %v", len(entries), entries)
	}
}

func TestExportErrors(t *testing.T) {
	db := fixtureFile(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "--all", "order-1"}, exitUsage, "give no STREAM"},
		{[]string{"export", "order-1", "order-1"}, exitUsage, `stream "order-1" is given twice`},
		{[]string{"export", "bad\nname"}, exitUsage, "stream"},
		{[]string{"export", "order-1", "nope"}, exitFail, `no stream "nope" in ` + db},
		{[]string{"export", "-o", t.TempDir()}, exitFail, "is a directory"},
	} {
		code, out, errOut := run(t, append([]string{"--db", db}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "missing.db")
	if code, _, errOut := run(t, "--db", missing, "export"); code != exitFail || !strings.Contains(errOut, "no store at") {
		t.Errorf("missing store: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("export created a store")
	}
}

// The stores of the round-trip tests.

// richEvents are events with every kind of payload, in streams with
// unicode names, in the order they are appended (interleaving streams).
var richEvents = []struct {
	stream string
	event  chronicle.EventData
}{
	{"order-1", chronicle.EventData{ID: "o-1", Type: "OrderPlaced", Data: []byte(`{"total":12,"items":["a","b"]}`),
		Metadata: json.RawMessage(`{"tenant":{"id":"t1"},"n":1.5}`), Time: t0.Add(123456789)}},
	{"日本語-ストリーム", chronicle.EventData{ID: "j-1", Type: "Bestellung✓", Data: []byte("{\"a\": 1,\n  \"b\": [1, 2]}"), Time: t0.Add(time.Second)}},
	{"émoji-😀 a/b", chronicle.EventData{ID: "e-1", Type: "Binary", Data: []byte{0, 0xff, 0xfe, '\n', 'x', '\r'}, Time: time.Date(1900, 1, 2, 3, 4, 5, 6, time.UTC)}},
	{"order-1", chronicle.EventData{ID: "o-2", Type: "Empty", Time: time.Date(2200, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
	{"日本語-ストリーム", chronicle.EventData{ID: "j-2", Type: "Text", Data: []byte(`"a JSON string"`), Metadata: json.RawMessage(`{ "spaced" : [ 1 , 2 ] }`), Time: t0.Add(2 * time.Second)}},
	{"émoji-😀 a/b", chronicle.EventData{ID: "id with spaces ✓", Type: "Meta", Data: []byte("plain text"), Metadata: json.RawMessage("{\"line\":\n\"break\"}"), Time: t0.Add(3 * time.Second)}},
	{"order-1", chronicle.EventData{ID: "o-3", Type: "Whitespace", Data: []byte("  "), Time: t0.Add(4 * time.Second)}},
	{"order-2", chronicle.EventData{ID: "o2-1", Type: "Number", Data: []byte(`1e3`), Metadata: json.RawMessage(`{}`), Time: t0.Add(5 * time.Second)}},
}

// richFile returns a SQLite store holding richEvents.
func richFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rich.db")
	st := openSQLite(t, path)
	for _, r := range richEvents {
		if _, err := st.Append(t.Context(), r.stream, chronicle.Any, r.event); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// openSQLite opens (creating) a SQLite store, closed when the test ends.
func openSQLite(t *testing.T, path string) *chronicle.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// openPostgres opens (creating) a store in a PostgreSQL schema, closed
// when the test ends.
func openPostgres(t *testing.T, url, schema string) *chronicle.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// storeEvents returns every event of st, by stream, in version order.
func storeEvents(t *testing.T, st *chronicle.Store) map[string][]chronicle.Event {
	t.Helper()
	out := map[string][]chronicle.Event{}
	for info, err := range st.ListStreams(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		for e, err := range st.Read(t.Context(), info.Stream, 0, nil) {
			if err != nil {
				t.Fatal(err)
			}
			out[info.Stream] = append(out[info.Stream], e)
		}
		if n := int64(len(out[info.Stream])); n != info.Version {
			t.Fatalf("stream %q: %d events, version %d", info.Stream, n, info.Version)
		}
	}
	return out
}

// sameEvents fails t unless got and want hold the same streams, with the
// same events in the same order: every field but the position. Metadata is
// compared as JSON when asJSON is set (PostgreSQL normalizes it), else
// byte for byte.
func sameEvents(t *testing.T, got, want map[string][]chronicle.Event, asJSON bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d streams, want %d", len(got), len(want))
	}
	for stream, ws := range want {
		gs := got[stream]
		if len(gs) != len(ws) {
			t.Errorf("stream %q: %d events, want %d", stream, len(gs), len(ws))
			continue
		}
		for i := range ws {
			g, w := gs[i], ws[i]
			meta := string(g.Metadata) == string(w.Metadata)
			if asJSON && !meta {
				var gm, wm any
				meta = json.Unmarshal(g.Metadata, &gm) == nil && json.Unmarshal(w.Metadata, &wm) == nil && jsonText(gm) == jsonText(wm)
			}
			if g.Stream != w.Stream || g.Version != w.Version || g.ID != w.ID || g.Type != w.Type ||
				string(g.Data) != string(w.Data) || !meta || !g.Time.Equal(w.Time) {
				t.Errorf("stream %q event %d:\n got %+v\nwant %+v", stream, i, g, w)
			}
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v) // sorts keys
	return string(b)
}
