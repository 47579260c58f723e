package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/jackc/pgx/v5"
	sqlite3 "github.com/ncruces/go-sqlite3"
)

// verifyT0 is the time of the first event of verify's fixture.
var verifyT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// verifyAppends are the appends of verify's fixture, in order: streams
// interleaved, keyed and store-assigned IDs, with and without metadata.
// Positions in a SQLite file: acct-1 1, 2, 5, 6; acct-2 3, 4, 10; log 7,
// 8, 9.
var verifyAppends = []struct {
	stream string
	events []chronicle.EventData
}{
	{"acct-1", []chronicle.EventData{
		{ID: "a1-1", Type: "Opened", Data: []byte(`{"owner":"ann"}`), Metadata: json.RawMessage(`{"tenant":"acme"}`)},
		{ID: "a1-2", Type: "Deposited", Data: []byte(`{"amount":10}`), Metadata: json.RawMessage(`{"tenant":"acme","user":{"id":7}}`)},
	}},
	{"acct-2", []chronicle.EventData{
		{Type: "Opened", Data: []byte(`{"owner":"bob"}`)},
		{Type: "Deposited", Data: []byte(`{"amount":5}`), Metadata: json.RawMessage(`{"tenant":"other"}`)},
	}},
	{"acct-1", []chronicle.EventData{
		{ID: "a1-3", Type: "Withdrawn", Data: []byte(`{"amount":3}`), Metadata: json.RawMessage(`{"tenant":"acme"}`)},
		{ID: "a1-4", Type: "Closed"},
	}},
	{"log", []chronicle.EventData{
		{Type: "Started", Data: []byte("boot")},
		{ID: "l-2", Type: "Tick", Metadata: json.RawMessage(` {"n": 2} `)},
		{Type: "Stopped", Data: []byte{0, 1, 0xff}},
	}},
	{"acct-2", []chronicle.EventData{
		{ID: "a2-3", Type: "Frozen", Metadata: json.RawMessage(`{"reason":"audit"}`)},
	}},
}

// writeVerifyFixture appends verify's fixture through st, each event a
// second after the one before.
func writeVerifyFixture(t *testing.T, st *chronicle.Store) {
	t.Helper()
	n := 0
	for _, a := range verifyAppends {
		events := slices.Clone(a.events)
		for i := range events {
			events[i].Time = verifyT0.Add(time.Duration(n) * time.Second)
			n++
		}
		if _, err := st.Append(t.Context(), a.stream, chronicle.Any, events...); err != nil {
			t.Fatal(err)
		}
	}
}

// verifyFile returns a healthy SQLite store holding verify's fixture,
// closed.
func verifyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	st, err := sqlite.Open(t.Context(), path, nil)
	if err == nil {
		writeVerifyFixture(t, st)
		err = st.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatalf("%s-wal is still there after Close", path)
	}
	return path
}

// copyStore copies the store at src into a new directory.
func copyStore(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "events.db")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// rawSQLite runs statements on the file with the SQLite driver, bypassing
// Chronicle.
func rawSQLite(t *testing.T, path, query string) {
	t.Helper()
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Exec(query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// rawSQLiteInt reads one integer with the SQLite driver.
func rawSQLiteInt(t *testing.T, path, query string) int64 {
	t.Helper()
	c, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, _, err := c.Prepare(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer st.Close()
	if !st.Step() {
		t.Fatalf("%s: no row (%v)", query, st.Err())
	}
	return st.ColumnInt64(0)
}

// garbleSQLitePage overwrites page n (from 1) of the file with bytes from a
// fixed seed.
func garbleSQLitePage(t *testing.T, path string, n int64) {
	t.Helper()
	size := rawSQLiteInt(t, path, "PRAGMA page_size")
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatalf("%s-wal exists: the page may not be in the main file", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, uint64(n)))
	junk := make([]byte, size)
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(junk, (n-1)*size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// verifyJSON runs verify --json on the store and decodes its report.
func verifyJSON(t *testing.T, args ...string) (int, verifyReport) {
	t.Helper()
	code, out, errOut := run(t, append([]string{"verify", "--json"}, args...)...)
	var rep verifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("verify --json (exit %d): %v\nstdout: %s\nstderr: %s", code, err, out, errOut)
	}
	if errOut != "" {
		t.Errorf("verify --json wrote to stderr: %s", errOut)
	}
	return code, rep
}

// wantProblem is what a test expects verify to report: a problem of kind in
// stream, at version unless 0.
type wantProblem struct {
	kind, stream string
	version      int64
}

// hasVerifyProblem reports whether rep lists a problem matching w.
func hasVerifyProblem(rep verifyReport, w wantProblem) bool {
	for _, p := range rep.Problems {
		if p.Kind == w.kind && p.Stream == w.stream && (w.version == 0 || p.Version != nil && *p.Version == w.version) {
			return true
		}
	}
	return false
}

func TestVerifyHealthySQLite(t *testing.T) {
	path := verifyFile(t)
	code, out, errOut := run(t, "--db", path, "verify")
	if code != 0 || errOut != "" {
		t.Fatalf("verify: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	if want := path + ": ok, 10 events in 3 streams (PRAGMA integrity_check)\n"; out != want {
		t.Errorf("verify printed %q, want %q", out, want)
	}
	code, rep := verifyJSON(t, "--db", path)
	if code != 0 || !rep.OK || rep.Events != 10 || rep.Streams != 3 || len(rep.Problems) != 0 || len(rep.Counts) != 0 || rep.Backend != "sqlite" {
		t.Errorf("verify --json: exit %d, %+v", code, rep)
	}
	code, rep = verifyJSON(t, "--db", path, "--quick")
	if code != 0 || !rep.OK || !slices.Equal(rep.Checked, []string{"PRAGMA quick_check"}) {
		t.Errorf("verify --json --quick: exit %d, %+v", code, rep)
	}
}

// TestVerifyFindsDamage damages copies of a healthy store with SQL, one
// way each, and checks that verify reports each problem expected, where
// expected, and no problem of another kind.
func TestVerifyFindsDamage(t *testing.T) {
	healthy := verifyFile(t)
	cases := []struct {
		name string
		sql  string
		want []wantProblem
	}{
		{
			name: "deleted middle event",
			sql:  "DELETE FROM chronicle_events WHERE stream = 'acct-1' AND version = 2",
			want: []wantProblem{{kindVersionGap, "acct-1", 2}},
		},
		{
			name: "deleted first event",
			sql:  "DELETE FROM chronicle_events WHERE stream = 'log' AND version = 1",
			want: []wantProblem{{kindVersionGap, "log", 1}, {kindStreamTime, "log", 2}},
		},
		{
			name: "version skipped",
			sql:  "UPDATE chronicle_events SET version = 7 WHERE stream = 'acct-1' AND version = 4",
			want: []wantProblem{{kindVersionGap, "acct-1", 4}, {kindStreamVersion, "acct-1", 4}},
		},
		{
			name: "version duplicated",
			sql: "DROP INDEX chronicle_events_stream_version; " +
				"UPDATE chronicle_events SET version = 1 WHERE stream = 'acct-2' AND version = 2",
			want: []wantProblem{{kindVersionDup, "acct-2", 1}, {kindVersionGap, "acct-2", 2}, {kindSchema, "", 0}},
		},
		{
			name: "version zero",
			sql:  "UPDATE chronicle_events SET version = 0 WHERE stream = 'log' AND version = 1",
			want: []wantProblem{{kindVersionInvalid, "log", 0}, {kindVersionGap, "log", 1}, {kindStreamTime, "log", 2}},
		},
		{
			name: "positions swapped",
			sql: "UPDATE chronicle_events SET position = -1 WHERE position = 1; " +
				"UPDATE chronicle_events SET position = 1 WHERE position = 2; " +
				"UPDATE chronicle_events SET position = 2 WHERE position = -1",
			want: []wantProblem{{kindVersionOrder, "acct-1", 2}},
		},
		{
			name: "position not positive",
			sql:  "UPDATE chronicle_events SET position = 0 WHERE position = 7",
			want: []wantProblem{{kindPosition, "", 0}},
		},
		{
			name: "stream version wrong",
			sql:  "UPDATE chronicle_streams SET version = 9 WHERE name = 'log'",
			want: []wantProblem{{kindStreamVersion, "log", 9}},
		},
		{
			name: "stream row without events",
			sql:  "INSERT INTO chronicle_streams (name, version, first_ts, last_ts) VALUES ('ghost', 2, 1, 2)",
			want: []wantProblem{{kindStreamEmpty, "ghost", 2}},
		},
		{
			name: "stream's events deleted",
			sql:  "DELETE FROM chronicle_events WHERE stream = 'log'",
			want: []wantProblem{{kindStreamEmpty, "log", 3}},
		},
		{
			name: "events without a stream row",
			sql:  "DELETE FROM chronicle_streams WHERE name = 'acct-2'",
			want: []wantProblem{{kindStreamMissing, "acct-2", 0}},
		},
		{
			name: "first time wrong",
			sql:  "UPDATE chronicle_streams SET first_ts = first_ts + 1 WHERE name = 'acct-1'",
			want: []wantProblem{{kindStreamTime, "acct-1", 1}},
		},
		{
			name: "last time wrong",
			sql:  "UPDATE chronicle_streams SET last_ts = 0 WHERE name = 'acct-2'",
			want: []wantProblem{{kindStreamTime, "acct-2", 3}},
		},
		{
			name: "invalid metadata",
			sql:  `UPDATE chronicle_events SET meta = '{"tenant":' WHERE stream = 'acct-1' AND version = 3`,
			want: []wantProblem{{kindMetadata, "acct-1", 3}},
		},
		{
			name: "metadata an array",
			sql:  `UPDATE chronicle_events SET meta = '[1, 2]' WHERE stream = 'log' AND version = 1`,
			want: []wantProblem{{kindMetadata, "log", 1}},
		},
		{
			name: "metadata null",
			sql:  `UPDATE chronicle_events SET meta = 'null' WHERE stream = 'acct-2' AND version = 3`,
			want: []wantProblem{{kindMetadata, "acct-2", 3}},
		},
		{
			name: "empty type",
			sql:  "UPDATE chronicle_events SET type = '' WHERE stream = 'acct-2' AND version = 1",
			want: []wantProblem{{kindType, "acct-2", 1}},
		},
		{
			name: "empty ID",
			sql:  "UPDATE chronicle_events SET id = '' WHERE stream = 'acct-2' AND version = 2",
			want: []wantProblem{{kindID, "acct-2", 2}},
		},
		{
			name: "keyed ID duplicated",
			sql: "DROP INDEX chronicle_events_stream_key; " +
				"UPDATE chronicle_events SET id = 'a1-1' WHERE stream = 'acct-1' AND version = 2",
			want: []wantProblem{{kindIDDuplicate, "acct-1", 2}, {kindSchema, "", 0}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := copyStore(t, healthy)
			rawSQLite(t, path, c.sql)
			code, rep := verifyJSON(t, "--db", path)
			if code != 1 || rep.OK {
				t.Fatalf("verify: exit %d, ok %v, want exit 1 and not ok: %+v", code, rep.OK, rep)
			}
			for _, w := range c.want {
				if !hasVerifyProblem(rep, w) {
					t.Errorf("no %s problem in stream %q at version %d; problems: %+v", w.kind, w.stream, w.version, rep.Problems)
				}
			}
			var kinds []string
			for _, w := range c.want {
				if !slices.Contains(kinds, w.kind) {
					kinds = append(kinds, w.kind)
				}
			}
			slices.Sort(kinds)
			if got := slices.Sorted(maps.Keys(rep.Counts)); !slices.Equal(got, kinds) {
				t.Errorf("kinds reported %v, want %v; problems: %+v", got, kinds, rep.Problems)
			}
			code, out, _ := run(t, "--db", path, "verify")
			if code != 1 || !strings.Contains(out, c.want[0].kind) {
				t.Errorf("verify (text): exit %d, output:\n%s", code, out)
			}
		})
	}
}

// TestVerifyGarbledPages overwrites a page of the file with garbage: a page
// of the (stream, version) index, then of the events table. PRAGMA
// integrity_check must say so, and what the scans make of the damage is
// reported too, without a crash.
func TestVerifyGarbledPages(t *testing.T) {
	healthy := verifyFile(t)
	for _, name := range []string{"chronicle_events_stream_version", "chronicle_events"} {
		t.Run(name, func(t *testing.T) {
			path := copyStore(t, healthy)
			root := rawSQLiteInt(t, path, "SELECT rootpage FROM sqlite_schema WHERE name = '"+name+"'")
			if root < 2 {
				t.Fatalf("root page of %s: %d", name, root)
			}
			garbleSQLitePage(t, path, root)
			code, rep := verifyJSON(t, "--db", path)
			if code != 1 || rep.OK || rep.Counts[kindIntegrity] == 0 {
				t.Fatalf("verify: exit %d, want 1 with integrity problems: %+v", code, rep)
			}
			if rep.Counts[kindRead] == 0 {
				t.Errorf("no read problem: the scans read through the garbled page: %+v", rep.Problems)
			}
			code, out, errOut := run(t, "--db", path, "verify")
			if code != 1 || !strings.Contains(out, "integrity ") || errOut != "" {
				t.Errorf("verify (text): exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
			}
		})
	}
}

// TestVerifyLimit lists at most --max problems of a kind and counts the
// rest.
func TestVerifyLimit(t *testing.T) {
	path := copyStore(t, verifyFile(t))
	rawSQLite(t, path, "UPDATE chronicle_events SET type = ''")
	code, rep := verifyJSON(t, "--db", path, "--max", "3")
	if code != 1 || len(rep.Problems) != 3 || rep.Counts[kindType] != 10 || rep.Unlisted != 7 {
		t.Errorf("verify --max 3: exit %d, %d listed, counts %v, unlisted %d", code, len(rep.Problems), rep.Counts, rep.Unlisted)
	}
	code, rep = verifyJSON(t, "--db", path, "--max", "0")
	if code != 1 || len(rep.Problems) != 10 || rep.Unlisted != 0 {
		t.Errorf("verify --max 0: exit %d, %d listed, unlisted %d", code, len(rep.Problems), rep.Unlisted)
	}
	code, out, _ := run(t, "--db", path, "verify", "--max", "2")
	if code != 1 || !strings.Contains(out, "… and 8 more type problems, not listed (--max)\n") ||
		!strings.HasSuffix(out, ": 10 problems in 10 events, 3 streams: 10 type (PRAGMA integrity_check)\n") {
		t.Errorf("verify --max 2: exit %d, output:\n%s", code, out)
	}
}

// TestVerifyGolden keeps the text report of a store damaged in several
// ways: go test ./cmd/chronicle/internal/cli -run VerifyGolden -update
func TestVerifyGolden(t *testing.T) {
	path := copyStore(t, verifyFile(t))
	rawSQLite(t, path, "DELETE FROM chronicle_events WHERE stream = 'acct-1' AND version = 2; "+
		"UPDATE chronicle_events SET position = 99 WHERE position = 3; "+
		"UPDATE chronicle_events SET meta = '[\"x\"]' WHERE position = 8; "+
		"UPDATE chronicle_streams SET version = 4, last_ts = 1 WHERE name = 'log'; "+
		"INSERT INTO chronicle_streams VALUES ('ghost', 1, 0, 0)")
	code, out, errOut := run(t, "--db", path, "verify")
	if code != 1 || errOut != "" {
		t.Fatalf("verify: exit %d, stderr %q", code, errOut)
	}
	golden(t, "verify-damaged.txt", strings.ReplaceAll(out, path, "events.db"))
}

func TestVerifyUsage(t *testing.T) {
	path := verifyFile(t)
	for _, args := range [][]string{
		{"--db", path, "verify", "extra"},
		{"--db", path, "verify", "--max", "-1"},
		{"--db", path, "verify", "--nope"},
		{"verify"},
	} {
		if code, _, errOut := run(t, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q, want 2 with a message", args, code, errOut)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.db")
	if code, _, errOut := run(t, "--db", missing, "verify"); code != 1 || !strings.Contains(errOut, "no store") {
		t.Errorf("verify of a missing store: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("verify created %s", missing)
	}
}

// TestVerifyPostgres checks a healthy PostgreSQL store, then damages it.
func TestVerifyPostgres(t *testing.T) {
	url, schema := pgStore(t)
	ctx := t.Context()
	st, err := postgres.Open(ctx, url, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	writeVerifyFixture(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db := []string{"--db", url, "--schema", schema}
	code, rep := verifyJSON(t, db...)
	if code != 0 || !rep.OK || rep.Events != 10 || rep.Streams != 3 || rep.Backend != "postgres" {
		t.Fatalf("verify of a healthy store: exit %d, %+v", code, rep)
	}
	if len(rep.Checked)+len(rep.Skipped) == 0 {
		t.Errorf("the report says nothing of amcheck: %+v", rep)
	}
	if code, out, _ := run(t, append(db, "verify")...); code != 0 || !strings.Contains(out, ": ok, 10 events in 3 streams") {
		t.Errorf("verify (text): exit %d, %q", code, out)
	}
	if code, _, errOut := run(t, append(db, "verify", "--quick")...); code != 2 || !strings.Contains(errOut, "SQLite stores only") {
		t.Errorf("verify --quick on PostgreSQL: exit %d, %q", code, errOut)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{
		"DELETE FROM %s.events WHERE stream = 'acct-1' AND version = 2",
		"UPDATE %s.streams SET version = 9 WHERE name = 'log'",
		"UPDATE %s.events SET meta = '[1]' WHERE stream = 'acct-2' AND version = 2",
		"UPDATE %s.streams SET first_ts = 0 WHERE name = 'acct-2'",
		"INSERT INTO %s.streams VALUES ('ghost', 1, 0, 0)",
	} {
		if _, err := conn.Exec(ctx, fmt.Sprintf(q, schema)); err != nil {
			t.Fatal(err)
		}
	}
	code, rep = verifyJSON(t, db...)
	if code != 1 || rep.OK {
		t.Fatalf("verify of a damaged store: exit %d, %+v", code, rep)
	}
	for _, w := range []wantProblem{
		{kindVersionGap, "acct-1", 2},
		{kindStreamVersion, "log", 9},
		{kindMetadata, "acct-2", 2},
		{kindStreamTime, "acct-2", 1},
		{kindStreamEmpty, "ghost", 1},
	} {
		if !hasVerifyProblem(rep, w) {
			t.Errorf("no %s problem in stream %q at version %d; problems: %+v", w.kind, w.stream, w.version, rep.Problems)
		}
	}
	if n := len(rep.Counts); n != 5 {
		t.Errorf("%d kinds of problem, want 5: %+v", n, rep.Problems)
	}
}
