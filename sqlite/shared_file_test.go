package sqlite

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/storetest"
)

// These tests share one file between a store and an application's own
// connection. The application's connection runs on the engine the store
// uses for files in this build (fileEngine), as an application must: one
// process uses a file through one engine only.

// appConnT opens an application's own read-write connection to path.
func appConnT(t *testing.T, path string) *conn {
	t.Helper()
	c, err := fileEngine().open(path, openReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.BusyTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	cn := newConn(c)
	t.Cleanup(func() { _ = cn.close() })
	return cn
}

// appExecT runs one or more statements on c.
func appExecT(t *testing.T, c *conn, sql string) {
	t.Helper()
	if err := c.c.Exec(sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// textRowsT returns the first column of every row of query, as text.
func textRowsT(t *testing.T, c *conn, query string) []string {
	t.Helper()
	st, err := c.prep(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer done(st)
	var out []string
	for st.Step() {
		out = append(out, st.ColumnText(0))
	}
	if err := st.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// openSharedT opens the store at path, logging nothing.
func openSharedT(t *testing.T, path string) *chronicle.Store {
	t.Helper()
	s, err := Open(t.Context(), path, &Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func closeT(t *testing.T, s *chronicle.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func readAllT(t *testing.T, s *chronicle.Store) []chronicle.Event {
	t.Helper()
	var out []chronicle.Event
	for ev, err := range s.ReadAll(t.Context(), chronicle.Position{}, nil) {
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

func appendT(t *testing.T, s *chronicle.Store, stream string, evs ...chronicle.EventData) chronicle.AppendResult {
	t.Helper()
	res, err := s.Append(t.Context(), stream, chronicle.Any, evs...)
	if err != nil {
		t.Fatalf("Append(%q): %v", stream, err)
	}
	return res
}

// markT reports the file's application_id and user_version.
func markT(t *testing.T, c *conn) (appID, userVersion int64) {
	t.Helper()
	if _, err := c.row("PRAGMA application_id", []*int64{&appID}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.row("PRAGMA user_version", []*int64{&userVersion}); err != nil {
		t.Fatal(err)
	}
	return appID, userVersion
}

// The application's own tables, with the names Chronicle's tables had before
// schema 2, an index named as Chronicle's was, and a view and a trigger.
const appSchema = `
CREATE TABLE events (id INTEGER PRIMARY KEY, title TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX events_stream_version ON events (at);
CREATE TABLE streams (channel TEXT PRIMARY KEY, viewers INTEGER NOT NULL);
CREATE TABLE snapshots (id INTEGER PRIMARY KEY, url TEXT NOT NULL);
CREATE TABLE order_totals (stream TEXT PRIMARY KEY, total INTEGER NOT NULL);
CREATE TABLE audit (what TEXT NOT NULL);
CREATE VIEW event_titles AS SELECT title FROM events ORDER BY id;
CREATE TRIGGER events_audit AFTER INSERT ON events BEGIN INSERT INTO audit VALUES ('event ' || new.title); END;
INSERT INTO events (title, at) VALUES ('launch', '2026-03-01'), ('review', '2026-03-08');
INSERT INTO streams VALUES ('main', 42);
INSERT INTO snapshots (url) VALUES ('https://example.com/a.png');
`

// appDump is everything the application keeps in the file, as text.
func appDumpT(t *testing.T, c *conn) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		"SELECT type || ' ' || name || ' ' || tbl_name || ': ' || coalesce(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'chronicle\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_autoindex\\_chronicle\\_%' ESCAPE '\\' ORDER BY name",
		"SELECT id || ' ' || title || ' ' || at FROM events ORDER BY id",
		"SELECT channel || ' ' || viewers FROM streams ORDER BY channel",
		"SELECT id || ' ' || url FROM snapshots ORDER BY id",
		"SELECT stream || ' ' || total FROM order_totals ORDER BY stream",
		"SELECT what FROM audit ORDER BY rowid",
		"SELECT title FROM event_titles",
	} {
		out = append(out, q)
		out = append(out, textRowsT(t, c, q)...)
	}
	return out
}

// exerciseShared appends through the store and, after each append, has
// the application update a read model and its own events table in one
// transaction; then it checks the store and that the read model agrees
// with it.
func exerciseShared(t *testing.T, s *chronicle.Store, app *conn, round int) {
	t.Helper()
	ctx := t.Context()
	streams := []string{"order-a", "order-b", "order-c", "order-d", "order-e"}
	for _, stream := range streams {
		res := appendT(t, s, stream, chronicle.EventData{Type: "Added", Data: []byte(`{"n":1}`)})
		appExecT(t, app, "BEGIN IMMEDIATE")
		if err := app.exec("INSERT INTO order_totals VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET total = total + 1", stream); err != nil {
			t.Fatal(err)
		}
		title := fmt.Sprintf("%s v%d", stream, res.Version)
		if err := app.exec("INSERT INTO events (title, at) VALUES (?, ?)", title, fmt.Sprintf("round %d", round)); err != nil {
			t.Fatal(err)
		}
		appExecT(t, app, "COMMIT")
	}
	storetest.CheckInvariants(t, s)
	for _, stream := range streams {
		info, err := s.StreamInfo(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		if _, err := app.row("SELECT total FROM order_totals WHERE stream = ?", []*int64{&total}, stream); err != nil {
			t.Fatal(err)
		}
		if total != info.Version {
			t.Fatalf("read model counts %d events of %s, the store %d", total, stream, info.Version)
		}
	}
}

// An application that created its tables first (even ones named as
// Chronicle's were before schema 2) keeps them and their rows when the
// store is created in its file, and both work side by side, across a
// reopen.
func TestSharedFileApplicationFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	app := appConnT(t, path)
	appExecT(t, app, appSchema)
	before := appDumpT(t, app)

	s := openSharedT(t, path)
	if id, v := markT(t, app); id != ApplicationID || v != int64(SchemaVersion()) {
		t.Fatalf("after Open: application_id %#x, user_version %d; want %#x, %d", id, v, ApplicationID, SchemaVersion())
	}
	if got := appDumpT(t, app); !slices.Equal(got, before) {
		t.Fatalf("Open changed the application's tables:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
	}
	exerciseShared(t, s, app, 1)
	closeT(t, s)

	s = openSharedT(t, path)
	exerciseShared(t, s, app, 2)
	if n := len(readAllT(t, s)); n != 10 {
		t.Fatalf("%d events after reopen, want 10", n)
	}
	closeT(t, s)
	var rows int64
	if _, err := app.row("SELECT count(*) FROM events", []*int64{&rows}); err != nil || rows != 12 {
		t.Fatalf("application's events table has %d rows (%v), want 12", rows, err)
	}
}

// A store created first lets the application create tables named events,
// streams and snapshots (Chronicle's names before schema 2) in its file;
// both work, and the file reopens.
func TestSharedFileStoreFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	s := openSharedT(t, path)
	appendT(t, s, "first", chronicle.EventData{Type: "Created"})

	app := appConnT(t, path)
	appExecT(t, app, appSchema)
	before := appDumpT(t, app)
	exerciseShared(t, s, app, 1)
	closeT(t, s)

	s = openSharedT(t, path)
	exerciseShared(t, s, app, 2)
	if n := len(readAllT(t, s)); n != 11 {
		t.Fatalf("%d events after reopen, want 11", n)
	}
	closeT(t, s)
	after := appDumpT(t, app)
	// The application's rows grew by its own inserts only.
	for _, line := range before {
		if !slices.Contains(after, line) {
			t.Fatalf("application row lost: %q", line)
		}
	}
	if id, v := markT(t, app); id != ApplicationID || v != int64(SchemaVersion()) {
		t.Fatalf("application_id %#x, user_version %d; want %#x, %d", id, v, ApplicationID, SchemaVersion())
	}
}

// TestConformanceSharedFile runs the conformance suite on stores created in
// files that already hold an application's tables.
func TestConformanceSharedFile(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite runs on plain files in -short mode")
	}
	storetest.Run(t, func(t *testing.T) *chronicle.Store {
		path := filepath.Join(t.TempDir(), "app.db")
		app := appConnT(t, path)
		appExecT(t, app, appSchema)
		if err := app.close(); err != nil {
			t.Fatal(err)
		}
		return openSharedT(t, path)
	})
}

// schemaOfT describes the file's schema: every object, each table's columns
// and each index's columns, uniqueness and condition, without the text of
// the CREATE TABLE statements (a renamed table's keeps the new name quoted).
func schemaOfT(t *testing.T, c *conn) []string {
	t.Helper()
	var out []string
	for _, q := range []string{
		"SELECT type || ' ' || name || ' on ' || tbl_name FROM sqlite_schema ORDER BY name",
		"SELECT name || ' ' || type || ' ncol=' || ncol || ' wr=' || wr || ' strict=' || strict FROM pragma_table_list WHERE schema = 'main' ORDER BY name",
		"SELECT m.name || '.' || p.name || ' ' || p.type || ' notnull=' || p.\"notnull\" || ' pk=' || p.pk || ' default=' || coalesce(p.dflt_value, '-') " +
			"FROM sqlite_schema m, pragma_table_xinfo(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid",
		"SELECT m.name || ' ' || l.name || ' unique=' || l.\"unique\" || ' origin=' || l.origin || ' partial=' || l.partial || ' cols=' || " +
			"(SELECT group_concat(i.name, ',') FROM (SELECT name FROM pragma_index_info(l.name) ORDER BY seqno) i) " +
			"FROM sqlite_schema m, pragma_index_list(m.name) l WHERE m.type = 'table' ORDER BY m.name, l.name",
		"SELECT name || ': ' || sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
	} {
		out = append(out, textRowsT(t, c, q)...)
	}
	return out
}

// schema1Events are the events of testdata/schema1.sqlite, a file written by
// Chronicle at schema 1 (commit 915f748; tables events, streams and
// snapshots) through its API: these appends with Time t0 + i seconds, then
// SaveSnapshot("order-1", "totals", 3, "t3") and SaveGlobalSnapshot
// ("all-view", position 5, "g5"). Events 3 and 4 had no ID given (keyed =
// 0), the others did.
var schema1Events = []struct {
	stream, id, typ, data, meta string
	version                     int64
}{
	{"order-1", "cmd-1", "OrderPlaced", `{"n":1}`, `{"tenant":{"id":"acme"}}`, 1},
	{"order-1", "cmd-2", "ItemAdded", `{"n":2}`, `{"tenant":{"id":"acme"}}`, 2},
	{"order-2", "", "OrderPlaced", "\x00", "", 1},
	{"order-2", "", "ItemAdded", "\x01", "", 2},
	{"order-1", "cmd-3", "OrderShipped", `{"n":3}`, `{"tenant":{"id":"acme"}}`, 3},
	{"cart-9", "cmd-9", "CartOpened", `{}`, "", 1},
}

// copyFixtureT copies testdata/name into a temporary directory.
func copyFixtureT(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A file of schema 1 is migrated to the chronicle_ names on Open, with its
// events, streams and snapshots intact, and ends with the schema of a new
// file.
func TestMigrateSchema1(t *testing.T) {
	path := copyFixtureT(t, "schema1.sqlite")
	{
		old := appConnT(t, path)
		if id, v := markT(t, old); id != ApplicationID || v != 1 {
			t.Fatalf("fixture: application_id %#x, user_version %d; want schema 1", id, v)
		}
		if err := old.close(); err != nil {
			t.Fatal(err)
		}
	}

	s := openSharedT(t, path)
	ctx := t.Context()
	evs := readAllT(t, s)
	if len(evs) != len(schema1Events) {
		t.Fatalf("%d events after the migration, want %d", len(evs), len(schema1Events))
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	for i, want := range schema1Events {
		ev := evs[i]
		if ev.Position != chronicle.At(uint64(i+1)) || ev.Stream != want.stream || ev.Version != want.version ||
			ev.Type != want.typ || string(ev.Data) != want.data || string(ev.Metadata) != want.meta ||
			!ev.Time.Equal(t0.Add(time.Duration(i)*time.Second)) || (want.id != "" && ev.ID != want.id) || ev.ID == "" {
			t.Errorf("event %d = %+v, want %+v", i+1, ev, want)
		}
	}
	storetest.CheckInvariants(t, s)

	snap, ok, err := s.LoadSnapshot(ctx, "order-1", "totals")
	if err != nil || !ok || snap.Version != 3 || string(snap.State) != "t3" {
		t.Fatalf("LoadSnapshot = %+v, %v, %v; want version 3, t3", snap, ok, err)
	}
	gsnap, ok, err := s.LoadGlobalSnapshot(ctx, "all-view")
	if err != nil || !ok || gsnap.Position != chronicle.At(5) || string(gsnap.State) != "g5" {
		t.Fatalf("LoadGlobalSnapshot = %+v, %v, %v; want position 5, g5", gsnap, ok, err)
	}
	info, err := s.StreamInfo(ctx, "order-1")
	if err != nil || info.Version != 3 || !info.FirstTime.Equal(t0) || !info.LastTime.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("StreamInfo(order-1) = %+v, %v", info, err)
	}

	// The idempotency keys written at schema 1 still count, and the stream
	// goes on from its version.
	res, err := s.Append(ctx, "order-1", chronicle.Exactly(0), chronicle.EventData{ID: "cmd-2", Type: "ItemAdded"})
	if err != nil || res.Version != 3 || res.Written != 0 || len(res.Positions) != 1 {
		t.Fatalf("retry of cmd-2 = %+v, %v; want nothing written at version 3", res, err)
	}
	res, err = s.Append(ctx, "order-1", chronicle.Exactly(3), chronicle.EventData{ID: "cmd-4", Type: "OrderClosed"})
	if err != nil || res.Version != 4 || res.Positions[0] != chronicle.At(7) {
		t.Fatalf("Append after the migration = %+v, %v; want version 4 at position 7", res, err)
	}
	closeT(t, s)

	fresh := filepath.Join(t.TempDir(), "fresh.db")
	closeT(t, openSharedT(t, fresh))
	migrated, created := appConnT(t, path), appConnT(t, fresh)
	got, want := schemaOfT(t, migrated), schemaOfT(t, created)
	if !slices.Equal(got, want) {
		t.Errorf("migrated schema:\n%s\nnew file's schema:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if id, v := markT(t, migrated); id != ApplicationID || v != int64(SchemaVersion()) {
		t.Errorf("after the migration: application_id %#x, user_version %d; want %#x, %d", id, v, ApplicationID, SchemaVersion())
	}
	for _, name := range textRowsT(t, migrated, "SELECT name FROM sqlite_schema") {
		if !strings.HasPrefix(name, prefix) && !strings.HasPrefix(name, "sqlite_autoindex_"+prefix) {
			t.Errorf("after the migration the file holds %q", name)
		}
	}
	for _, c := range []*conn{migrated, created} {
		if err := c.close(); err != nil {
			t.Fatal(err)
		}
	}

	s = openSharedT(t, path)
	storetest.CheckInvariants(t, s)
	if n := len(readAllT(t, s)); n != 7 {
		t.Fatalf("%d events after reopening the migrated file, want 7", n)
	}
}

// A migration that fails leaves a schema-1 file as it was: here the
// application's own chronicle_events table is in the way of the rename.
func TestMigrateSchema1FailureRollsBack(t *testing.T) {
	path := copyFixtureT(t, "schema1.sqlite")
	app := appConnT(t, path)
	appExecT(t, app, "CREATE TABLE chronicle_events (x)")
	before := schemaOfT(t, app)
	if err := app.close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path, &Options{Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded with chronicle_events in the way of the migration")
	}
	app = appConnT(t, path)
	if got := schemaOfT(t, app); !slices.Equal(got, before) {
		t.Fatalf("failed migration changed the schema:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(before, "\n"))
	}
	if _, v := markT(t, app); v != 1 {
		t.Fatalf("user_version %d after a failed migration, want 1", v)
	}
}

func TestCompatible(t *testing.T) {
	latest := 2
	for _, tc := range []struct {
		name string
		f    fileState
		want string // "" when compatible, else a part of the error
	}{
		{"empty", fileState{}, ""},
		{"application's tables", fileState{objects: 3}, ""},
		{"application's tables, marked at version 0", fileState{appID: ApplicationID, objects: 3}, ""},
		{"store", fileState{appID: ApplicationID, userVersion: 2, objects: 5, reserved: "chronicle_events"}, ""},
		{"older store", fileState{appID: ApplicationID, userVersion: 1, objects: 5}, ""},
		{"another application_id", fileState{appID: 1234, objects: 1}, "application_id 0x4d2"},
		{"another application_id, our version", fileState{appID: 1234, userVersion: 2}, "application_id 0x4d2"},
		{"user_version of another tool", fileState{userVersion: 7, objects: 1}, "another tool"},
		{"user_version of another tool, empty", fileState{userVersion: 1}, "another tool"},
		{"negative user_version", fileState{appID: ApplicationID, userVersion: -1}, "user_version -1"},
		{"newer", fileState{appID: ApplicationID, userVersion: 3}, "newer"},
		{"name clash", fileState{objects: 2, reserved: "chronicle_events"}, `"chronicle_events"`},
		{"name clash, marked at version 0", fileState{appID: ApplicationID, objects: 2, reserved: "chronicle_x"}, `"chronicle_x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := compatible(tc.f, latest)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("compatible(%+v) = %v, want nil", tc.f, err)
			case tc.want != "" && !errors.Is(err, chronicle.ErrIncompatible):
				t.Fatalf("compatible(%+v) = %v, want ErrIncompatible", tc.f, err)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("compatible(%+v) = %v, want it to mention %s", tc.f, err, tc.want)
			}
		})
	}
}
