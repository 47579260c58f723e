package cli

import (
	"context"
	"encoding/json"
	"fmt"
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

// t0 is the time of the fixture's first event.
var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// fixtureEvents are the fixture's events by stream, in append order.
var fixtureEvents = []struct {
	stream string
	events []chronicle.EventData
}{
	{"order-1", []chronicle.EventData{
		{ID: "o1-1", Type: "OrderPlaced", Data: []byte(`{"total":12,"items":["a","b"]}`), Metadata: json.RawMessage(`{"tenant":"acme"}`), Time: t0},
		{ID: "o1-2", Type: "OrderPaid", Data: []byte(`{"amount": 12}`), Metadata: json.RawMessage(`{"tenant":"acme","user":{"id":7}}`), Time: t0.Add(time.Second)},
		{ID: "o1-3", Type: "OrderShipped", Time: t0.Add(2*time.Second + 500*time.Microsecond)},
	}},
	{"log", []chronicle.EventData{
		{ID: "l-1", Type: "Started", Data: []byte("service started"), Time: t0.Add(3 * time.Second)},
	}},
	{"blob", []chronicle.EventData{
		{ID: "b-1", Type: "Uploaded", Data: []byte{0, 1, 2, 0xff}, Metadata: json.RawMessage(`{"tenant":"other"}`), Time: t0.Add(4 * time.Second)},
	}},
	{"order-2", []chronicle.EventData{
		{ID: "o2-1", Type: "OrderPlaced", Data: []byte(`{"total":5}`), Metadata: json.RawMessage(`{"tenant":"acme"}`), Time: t0.Add(5 * time.Second)},
	}},
}

// fixture writes the fixture's events, a stream snapshot and a global one
// through st.
func fixture(t *testing.T, st *chronicle.Store) {
	t.Helper()
	ctx := t.Context()
	for _, s := range fixtureEvents {
		if _, err := st.Append(ctx, s.stream, chronicle.NoStream, s.events...); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveSnapshot(ctx, "order-1", "summary", 2, []byte(`{"paid":true}`)); err != nil {
		t.Fatal(err)
	}
	head, err := st.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveGlobalSnapshot(ctx, "counts", head, []byte("6")); err != nil {
		t.Fatal(err)
	}
}

// fixtureFile returns a SQLite file holding the fixture.
func fixtureFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	st, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fixture(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixturePostgres returns the URL and schema of a PostgreSQL store
// holding the fixture (skipping the test without PostgreSQL).
func fixturePostgres(t *testing.T) (url, schema string) {
	t.Helper()
	url, schema = pgStore(t)
	fixtureIn(t, url, schema)
	return url, schema
}

// fixtureIn writes the fixture into the PostgreSQL store at url, schema.
func fixtureIn(t *testing.T, url, schema string) {
	t.Helper()
	st, err := postgres.Open(t.Context(), url, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	fixture(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshotTimes hides the save times of snapshots, which the store sets.
var snapshotTimes = regexp.MustCompile(`20\d\d-\d\d-\d\dT[0-9:.]+Z`)

func TestGolden(t *testing.T) {
	db := fixtureFile(t)
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"streams.txt", []string{"streams"}},
		{"streams.jsonl", []string{"streams", "--json"}},
		{"streams-prefix.txt", []string{"streams", "--prefix", "order-", "--limit", "1"}},
		{"read-stream.txt", []string{"read", "order-1"}},
		{"read-stream.jsonl", []string{"read", "order-1", "--json"}},
		{"read-stream-last.txt", []string{"read", "order-1", "--backwards", "--limit", "1"}},
		{"read-stream-from.txt", []string{"read", "order-1", "--from", "1"}},
		{"read-all.txt", []string{"read", "--all"}},
		{"read-all.jsonl", []string{"read", "--all", "--json"}},
		{"read-all-from.txt", []string{"read", "--all", "--from", "4"}},
		{"read-all-types.txt", []string{"read", "--all", "--type", "OrderPlaced", "--type", "Started"}},
		{"read-all-meta.txt", []string{"read", "--all", "--meta", "tenant=acme", "--stream-prefix", "order-"}},
		{"read-all-meta-number.txt", []string{"read", "--all", "--meta", "user.id=7"}},
		{"read-missing-stream.txt", []string{"read", "nope"}},
		{"snapshots.txt", []string{"snapshots"}},
		{"snapshots-stream.jsonl", []string{"snapshots", "order-1", "--json"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			code, out, errOut := run(t, append([]string{"--db", db}, tc.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, errOut)
			}
			if strings.HasPrefix(tc.golden, "snapshots") {
				out = snapshotTimes.ReplaceAllString(out, "TIME")
			}
			golden(t, tc.golden, out)
		})
	}
}

// TestReadJSONRoundTrip: read --json gives back every field of every
// event as it was written, data as JSON or base64.
func TestReadJSONRoundTrip(t *testing.T) {
	db := fixtureFile(t)
	_, out, _ := run(t, "--db", db, "read", "--all", "--json")
	var got []chronicle.EventData
	streams := map[string]int64{}
	for line := range strings.Lines(out) {
		r, err := parseRecord([]byte(line))
		if err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		streams[r.Stream]++
		if r.Version != streams[r.Stream] {
			t.Errorf("%s: version %d, want %d", r.Stream, r.Version, streams[r.Stream])
		}
		e, err := r.event()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	var want []chronicle.EventData
	for _, s := range fixtureEvents {
		want = append(want, s.events...)
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Type != w.Type || string(g.Data) != string(w.Data) ||
			string(g.Metadata) != string(w.Metadata) || !g.Time.Equal(w.Time) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestInfo(t *testing.T) {
	db := fixtureFile(t)
	code, out, errOut := run(t, "--db", db, "info", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var info storeInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if info.Backend != "sqlite" || info.Events != 6 || info.Streams != 4 || info.Head != "6" ||
		info.Snapshots != 2 || info.SchemaVersion != sqlite.SchemaVersion() || info.FileBytes == nil || *info.FileBytes == 0 {
		t.Errorf("info = %s", out)
	}
	code, out, _ = run(t, "--db", db, "info")
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"backend: sqlite", "events: 6", "streams: 4", "head: 6", "snapshots: 2", "file:", "wal:", "projections: 0"} {
		if code != 0 || !strings.Contains(flat, want) {
			t.Errorf("info: want %q in:\n%s", want, out)
		}
	}
}

func TestAppend(t *testing.T) {
	db := filepath.Join(t.TempDir(), "new.db")
	ctx := t.Context()
	// The first append creates the store.
	code, out, errOut := run(t, "--db", db, "append", "order-9", "OrderPlaced", `{"total":3}`, "--id", "p9",
		"--meta", "tenant.id=acme", "--meta", "priority=2", "--expect", "no-stream")
	if code != 0 || out != "order-9: 1 event(s) written, version 1, position 1\n" {
		t.Fatalf("append: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The same ID again: found, not written.
	code, out, _ = run(t, "--db", db, "append", "order-9", "OrderPlaced", `{"total":3}`, "--id", "p9", "--expect", "no-stream")
	if code != 0 || out != "order-9: 0 event(s) written (1 already there), version 1, position 1\n" {
		t.Fatalf("duplicate append: exit %d, stdout %q", code, out)
	}
	// A wrong expectation fails and writes nothing.
	code, _, errOut = run(t, "--db", db, "append", "order-9", "OrderPaid", "--expect", "5")
	if code != exitFail || !strings.Contains(errOut, "conflict") {
		t.Fatalf("append with a wrong version: exit %d, stderr %q", code, errOut)
	}
	// Many from stdin, in batches, with base64 data and times.
	input := `{"type":"A","data":{"n":1},"id":"a1"}
{"type":"B","data_base64":"AAEC","metadata":{"k":"v"},"time":"2026-01-02T03:04:05.000000006Z"}

{"type":"C","data":"text in quotes"}
`
	code, out, errOut = runIn(t, input, "--db", db, "append", "order-9", "-", "--batch", "2", "--expect", "1", "--json")
	if code != 0 {
		t.Fatalf("append -: exit %d, stderr %q", code, errOut)
	}
	var res appendResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Version != 4 || res.Written != 3 || len(res.Positions) != 3 {
		t.Fatalf("append - printed %q (%v)", out, err)
	}
	// A bad line fails with its number, after the batches before it.
	code, _, errOut = runIn(t, "{\"type\":\"D\"}\n{\"tipe\":\"E\"}\n", "--db", db, "append", "order-9", "-", "--batch", "1")
	if code != exitFail || !strings.Contains(errOut, "stdin line 2") || !strings.Contains(errOut, `unknown field "tipe"`) {
		t.Fatalf("bad line: exit %d, stderr %q", code, errOut)
	}

	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var evs []chronicle.Event
	for e, err := range st.Read(ctx, "order-9", 0, nil) {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if len(evs) != 5 {
		t.Fatalf("%d events, want 5", len(evs))
	}
	if string(evs[0].Metadata) != `{"priority":2,"tenant":{"id":"acme"}}` || evs[0].ID != "p9" || string(evs[0].Data) != `{"total":3}` {
		t.Errorf("event 1 = %+v", evs[0])
	}
	if string(evs[2].Data) != "\x00\x01\x02" || string(evs[2].Metadata) != `{"k":"v"}` ||
		!evs[2].Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)) {
		t.Errorf("event 3 = %+v", evs[2])
	}
	if string(evs[3].Data) != `"text in quotes"` || evs[4].Type != "D" {
		t.Errorf("events 4, 5 = %+v, %+v", evs[3], evs[4])
	}
}

func TestUsageErrors(t *testing.T) {
	db := fixtureFile(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"raed"}, `did you mean "read"?`},
		{[]string{"streams"}, "no store given"},
		{[]string{"--db", db, "streams", "--nope"}, "unknown flag: --nope"},
		{[]string{"--db", db, "streams", "extra"}, `unexpected argument "extra"`},
		{[]string{"--db", db, "streams", "--limit", "-1"}, "--limit"},
		{[]string{"--db", db, "read"}, "give a STREAM, or --all"},
		{[]string{"--db", db, "read", "a", "--all"}, "give no STREAM"},
		{[]string{"--db", db, "read", "--all", "--from", "x"}, `--from "x"`},
		{[]string{"--db", db, "read", "a", "--from", "-2"}, `--from "-2"`},
		{[]string{"--db", db, "read", "a", "--stream-prefix", "o"}, "--stream-prefix applies to the global stream only"},
		{[]string{"--db", db, "read", "--all", "--meta", "novalue"}, "want path=value"},
		{[]string{"--db", db, "read", "--all", "--type", ""}, "type"},
		{[]string{"--db", db, "read", "--all", "--limit", "x"}, `invalid argument "x"`},
		{[]string{"--db", db, "tail", "a", "b"}, "at most one STREAM"},
		{[]string{"--db", db, "append", "s"}, "want at least 2 argument(s)"},
		{[]string{"--db", db, "append", "s", "T", "--expect", "soon"}, `--expect "soon"`},
		{[]string{"--db", db, "append", "s", "T", "--meta", "=x"}, "want key=value"},
		{[]string{"--db", db, "append", "s", "T", "--meta", "a=1", "--meta", "a.b=2"}, "holds a value already"},
		{[]string{"--db", db, "append", "s", "-", "data"}, "give no DATA"},
		{[]string{"--db", db, "append", "", "T"}, "stream"},
		{[]string{"--db", db, "append", "s", "bad\ntype"}, "type"},
		{[]string{"--db", db, "--schema", "x", "streams"}, "--schema applies to PostgreSQL"},
		{[]string{"completion", "tcsh"}, `unknown shell "tcsh"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "--help' for usage") {
				t.Errorf("exit %d, want %d with %q; stderr:\n%s", code, exitUsage, tc.want, errOut)
			}
			if out != "" {
				t.Errorf("wrote to stdout:\n%s", out)
			}
		})
	}
}

// TestMissingStore: the commands that only read fail on a path that holds
// no store, and create nothing.
func TestMissingStore(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{filepath.Join(dir, "missing.db"), empty} {
		for _, args := range [][]string{{"streams"}, {"read", "a"}, {"read", "--all"}, {"tail", "a"}, {"info"}, {"snapshots"}} {
			code, _, errOut := run(t, append([]string{"--db", db}, args...)...)
			if code != exitFail || !strings.Contains(errOut, "no store at "+db) {
				t.Errorf("%s %v: exit %d, stderr %q", db, args, code, errOut)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the commands left %d files in the directory, want only empty.db", len(entries))
	}
}

func TestEnvironment(t *testing.T) {
	db := fixtureFile(t)
	var out, errb strings.Builder
	code := Main(t.Context(), []string{"streams", "--limit", "1"}, Env{Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "CHRONICLE_DB" {
				return db
			}
			return ""
		}})
	if code != 0 || !strings.HasPrefix(out.String(), "STREAM") {
		t.Errorf("CHRONICLE_DB: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := run(t, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	root := (&app{}).root()
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		if !strings.Contains(out, "\n  "+c.Name()+" ") {
			t.Errorf("--help does not list %s:\n%s", c.Name(), out)
		}
		for _, sub := range c.Commands() {
			if code, sout, _ := run(t, c.Name(), sub.Name(), "--help"); code != 0 || !strings.Contains(sout, "Examples:") {
				t.Errorf("%s %s --help: exit %d, want examples:\n%s", c.Name(), sub.Name(), code, sout)
			}
		}
		code, cout, _ := run(t, c.Name(), "--help")
		if code != 0 || !strings.Contains(cout, "Usage:") || !strings.Contains(cout, "Examples:") {
			t.Errorf("%s --help: exit %d, want usage and examples:\n%s", c.Name(), code, cout)
		}
	}
	if code, out, _ := run(t, "help", "projections", "reset"); code != 0 || !strings.Contains(out, "chronicle projections reset") {
		t.Errorf("help projections reset: exit %d:\n%s", code, out)
	}
	if code, _, errOut := run(t, "help", "nosuch"); code != exitUsage || !strings.Contains(errOut, `unknown command "nosuch"`) {
		t.Errorf("help nosuch: exit %d, stderr %q", code, errOut)
	}
	if code, out, _ := run(t); code != 0 || !strings.Contains(out, "Available Commands:") {
		t.Errorf("no arguments: exit %d, stdout:\n%s", code, out)
	}
}

func TestCompletionAndVersion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, out, _ := run(t, "completion", shell)
		if code != 0 || !strings.Contains(out, "chronicle") || len(out) < 500 {
			t.Errorf("completion %s: exit %d, %d bytes", shell, code, len(out))
		}
	}
	code, out, _ := run(t, "version")
	for _, want := range []string{"chronicle ", "go ", "sqlite ", "postgres  schema"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("version: want %q in:\n%s", want, out)
		}
	}
}

// TestTail: tail prints the history after --from, then the events other
// processes append, and ends with exit 0 when its context ends.
func TestTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		want   []string // streams of the lines, in order
		append string   // the stream the live event goes to
	}{
		{"stream", []string{"tail", "order-1", "--from", "1", "--json"}, []string{"order-1", "order-1", "order-1"}, "order-1"},
		{"all filtered", []string{"tail", "--all", "--from", "3", "--type", "Live", "--json"}, []string{"log"}, "log"},
		{"all from the end", []string{"tail", "--json"}, []string{"blob"}, "blob"},
		{"postgres", []string{"tail", "--all", "--from", "0", "--stream-prefix", "order-1", "--json"}, []string{"order-1", "order-1", "order-1", "order-1"}, "order-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := []string{"--db", ""}
			if tc.name == "postgres" {
				url, schema := fixturePostgres(t)
				db = []string{"--db", url, "--schema", schema}
			} else {
				db[1] = fixtureFile(t)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan int, 1)
			var errb strings.Builder
			go func() {
				code := Main(ctx, append(db, tc.args...), Env{Stdout: w, Stderr: &errb, Getenv: func(string) string { return "" }})
				w.Close()
				done <- code
			}()
			lines := make(chan string)
			go func() {
				lr := newLineReader(r)
				for {
					b, err := lr.next()
					if err != nil {
						close(lines)
						return
					}
					lines <- string(b)
				}
			}()
			// Append from another store on the file until the tail shows
			// the live event (it may start after the first append).
			var got []string
			appended := 0
			deadline := time.After(20 * time.Second)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for len(got) < len(tc.want) {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("tail ended early (stderr %q) after %q", errb.String(), got)
					}
					var rec record
					if err := json.Unmarshal([]byte(l), &rec); err != nil {
						t.Fatalf("%v: %s", err, l)
					}
					got = append(got, rec.Stream)
				case <-tick.C:
					if len(got) == len(tc.want)-1 {
						appended++
						if code, _, errOut := run(t, append(db, "append", tc.append, "Live", "--id", fmt.Sprint("live-", appended))...); code != 0 {
							t.Fatalf("append: %s", errOut)
						}
					}
				case <-deadline:
					t.Fatalf("tail printed %q, want %q", got, tc.want)
				}
			}
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("tail ended with exit %d, want 0; stderr %q", code, errb.String())
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("tail printed streams %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPostgres runs the inspecting commands on the fixture in PostgreSQL:
// the same output as on SQLite, except for positions, which PostgreSQL
// assigns otherwise.
func TestPostgres(t *testing.T) {
	url, schema := pgStore(t)
	pg := []string{"--db", url, "--schema", schema}
	if code, _, errOut := run(t, append(pg, "streams")...); code != exitFail || !strings.Contains(errOut, "no store at") {
		t.Fatalf("streams on a missing schema: exit %d, stderr %q", code, errOut)
	}
	fixtureIn(t, url, schema)
	waitGlobal(t, pg, 6)
	sq := []string{"--db", fixtureFile(t)}
	// same runs args on both stores; the outputs must be equal once norm
	// has been applied to each.
	same := func(norm func(string) string, args ...string) {
		t.Helper()
		codePG, outPG, errPG := run(t, append(pg, args...)...)
		codeSQ, outSQ, _ := run(t, append(sq, args...)...)
		if codePG != 0 || codeSQ != 0 {
			t.Fatalf("%v: exit %d on PostgreSQL (stderr %q), %d on SQLite", args, codePG, errPG, codeSQ)
		}
		if a, b := norm(outPG), norm(outSQ); a != b || a == "" {
			t.Errorf("%v differs:\n--- PostgreSQL\n%s--- SQLite\n%s", args, a, b)
		}
	}
	asIs := func(s string) string { return s }
	noTimes := func(s string) string { return snapshotTimes.ReplaceAllString(s, "TIME") }
	// Events as JSON Lines, without positions (PostgreSQL numbers them
	// otherwise) and with metadata as parsed JSON (PostgreSQL keeps it as
	// jsonb, which normalizes spaces and the order of keys).
	events := func(s string) string {
		var out strings.Builder
		for line := range strings.Lines(s) {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			delete(e, "position")
			b, _ := json.Marshal(e) // sorts keys
			out.Write(append(b, '\n'))
		}
		return out.String()
	}
	same(asIs, "streams")
	same(asIs, "streams", "--json", "--prefix", "order")
	same(noTimes, "snapshots", "order-1")
	same(events, "read", "order-1", "--json", "--backwards")
	same(events, "read", "--all", "--json", "--meta", "tenant=acme")
	same(events, "read", "--all", "--json", "--type", "Uploaded", "--type", "Started")
	code, out, _ := run(t, append(pg, "info", "--json")...)
	var info storeInfo
	if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil || info.Backend != "postgres" ||
		info.Events != 6 || info.Streams != 4 || info.Snapshots != 2 || info.FileBytes != nil {
		t.Errorf("info: exit %d, %s", code, out)
	}
	if code, out, errOut := run(t, append(pg, "append", "order-1", "Refunded", "--expect", "3")...); code != 0 || !strings.Contains(out, "version 4") {
		t.Errorf("append: exit %d, %q %q", code, out, errOut)
	}
}

func TestLocationHidesPasswords(t *testing.T) {
	for _, u := range []string{
		"postgres://app:secret@db:5432/app",
		"postgres://app@db/app?password=secret&sslmode=disable",
		"postgresql://db/app?sslpassword=secret",
	} {
		if s := (location{url: u}).String(); strings.Contains(s, "secret") || !strings.Contains(s, "db") {
			t.Errorf("%s shows as %s", u, s)
		}
	}
}

func TestMetaValues(t *testing.T) {
	md, err := parseMeta([]string{"big=12345678901234567890", "price=1.50", "s=\"7\"", "b=true", "text=hello world"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"b":true,"big":12345678901234567890,"price":1.50,"s":"7","text":"hello world"}`; string(md) != want {
		t.Errorf("metadata %s, want %s", md, want)
	}
	for in, want := range map[string]any{"7": int64(7), "1.5": 1.5, `"7"`: "7", "true": true, "x y": "x y", "1e400": "1e400"} {
		if got := filterValue(in); got != want {
			t.Errorf("filterValue(%q) = %#v, want %#v", in, got, want)
		}
	}
}

// TestFlagsBeforeStore: bad flags are usage errors even when the store is
// missing, and nothing is printed before them.
func TestFlagsBeforeStore(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.db")
	for _, args := range [][]string{
		{"read", "s", "--from", "x"},
		{"read", "s", "--limit", "-1"},
		{"read", "--all", "--meta", "x"},
		{"tail", "s", "--from", "x"},
		{"tail", "--all", "--from", "x/y/z"},
	} {
		code, out, errOut := run(t, append([]string{"--db", missing}, args...)...)
		if code != exitUsage || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
}

// TestAppendNothingCreatesNothing: append creates the store with its first
// batch only.
func TestAppendNothingCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "new.db")
	for _, input := range []string{"", "\n\n", "{\"tipe\":\"x\"}\n"} {
		if code, _, errOut := runIn(t, input, "--db", db, "append", "s", "-"); code != exitFail {
			t.Errorf("input %q: exit %d, stderr %q", input, code, errOut)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("append of nothing left %d files", len(entries))
	}
}
