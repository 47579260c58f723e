package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle"
)

// TestCopySQLite: copy gives the target the source's events, --verify
// agrees, and copying again writes nothing.
func TestCopySQLite(t *testing.T) {
	src := richFile(t)
	dst := filepath.Join(t.TempDir(), "copy.db")
	code, out, errOut := run(t, "copy", "--from", src, "--to", dst, "--verify")
	want := fmt.Sprintf("copied %s to %s: 8 events of 4 streams read: 8 written (in 4 appends), 0 already there\n"+
		"verified: the 8 events of 4 streams are the same in both stores\n", src, dst)
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	sameEvents(t, storeEvents(t, openSQLite(t, dst)), storeEvents(t, openSQLite(t, src)), false)
	code, out, _ = run(t, "copy", "--from", src, "--to", dst)
	if code != 0 || !strings.HasSuffix(out, ": 8 events of 4 streams read: 0 written, 8 already there\n") {
		t.Errorf("again: exit %d, stdout %q", code, out)
	}
	// The fixture has snapshots, which copy mentions but does not copy.
	code, _, errOut = run(t, "copy", "--from", fixtureFile(t), "--to", filepath.Join(t.TempDir(), "f.db"), "--verify")
	if code != 0 || !strings.Contains(errOut, "note: the 2 snapshots of the source are not copied") {
		t.Errorf("fixture: exit %d, stderr %q", code, errOut)
	}
}

// TestCopyPostgres: SQLite → PostgreSQL → SQLite gives back the events,
// verified at each step.
func TestCopyPostgres(t *testing.T) {
	url, schema := pgStore(t)
	src := richFile(t)
	code, out, errOut := run(t, "copy", "--from", src, "--to", url, "--to-schema", schema, "--verify")
	if code != 0 || !strings.Contains(out, "verified: the 8 events of 4 streams") {
		t.Fatalf("to PostgreSQL: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	waitGlobal(t, []string{"--db", url, "--schema", schema}, 8)
	back := filepath.Join(t.TempDir(), "back.db")
	code, out, errOut = run(t, "copy", "--from", url, "--from-schema", schema, "--to", back, "--verify")
	if code != 0 || !strings.Contains(out, "verified: the 8 events of 4 streams") {
		t.Fatalf("back to SQLite: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	want := storeEvents(t, openSQLite(t, src))
	sameEvents(t, storeEvents(t, openPostgres(t, url, schema)), want, true)
	sameEvents(t, storeEvents(t, openSQLite(t, back)), want, true)

	// import and export on PostgreSQL too.
	_, schema2 := pgStore(t)
	pg2 := []string{"--db", url, "--schema", schema2}
	code, out, errOut = run(t, append(pg2, "import", exportFile(t, src))...)
	if code != 0 || !strings.Contains(out, "8 written") {
		t.Fatalf("import into PostgreSQL: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	waitGlobal(t, pg2, 8)
	code, out, _ = run(t, append(pg2, "export")...)
	if code != 0 || !strings.HasPrefix(out, `{"chronicle_export":1,"store":"postgres","head":"`) || strings.Count(out, "\n") != 9 {
		t.Errorf("export from PostgreSQL: exit %d:\n%s", code, out)
	}
	again := filepath.Join(t.TempDir(), "again.db")
	if code, _, errOut := runIn(t, out, "--db", again, "import", "-"); code != 0 {
		t.Fatalf("import of PostgreSQL's export: exit %d, stderr %q", code, errOut)
	}
	sameEvents(t, storeEvents(t, openSQLite(t, again)), want, true)
}

// interleaved returns a SQLite store of streams events-long streams,
// appended 5 events at a time, stream after stream, so that the streams
// interleave in the global stream.
func interleaved(t *testing.T, streams, events int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "src.db")
	st := openSQLite(t, path)
	for v := 0; v < events; v += 5 {
		for s := range streams {
			var batch []chronicle.EventData
			for i := v; i < min(v+5, events); i++ {
				batch = append(batch, chronicle.EventData{ID: fmt.Sprintf("s%d-%d", s, i+1), Type: "T", Data: fmt.Appendf(nil, `{"i":%d}`, i)})
			}
			if _, err := st.Append(t.Context(), fmt.Sprintf("stream-%02d", s), chronicle.Exactly(int64(v)), batch...); err != nil {
				t.Fatal(err)
			}
		}
	}
	return path
}

// TestCopyInterrupted: a copy cancelled midway leaves whole batches in
// the target, and the next run completes it.
func TestCopyInterrupted(t *testing.T) {
	const streams, events, batch = 10, 95, 10
	src := interleaved(t, streams, events)
	dst := filepath.Join(t.TempDir(), "dst.db")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stop := tuning{written: func(n int64) {
		if n >= 3*batch {
			cancel()
		}
	}}
	code, out, errOut := runTuned(ctx, stop, strings.NewReader(""), "copy", "--from", src, "--to", dst, "--batch", fmt.Sprint(batch), "--parallel", "2")
	if code != exitInterrupted || out != "" || !strings.Contains(errOut, "interrupted after") || !strings.Contains(errOut, "run the same command again to resume") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var written int64
	target := openSQLite(t, dst)
	for info, err := range target.ListStreams(t.Context(), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if info.Version%batch != 0 && info.Version != events {
			t.Errorf("stream %s: version %d, not a whole number of batches", info.Stream, info.Version)
		}
		written += info.Version
	}
	if written < 3*batch || written >= streams*events {
		t.Fatalf("%d events written, want from %d to fewer than %d", written, 3*batch, streams*events)
	}
	t.Logf("%d events written before the interruption; %s", written, errOut)

	code, out, errOut = run(t, "copy", "--from", src, "--to", dst, "--batch", fmt.Sprint(batch), "--verify")
	want := fmt.Sprintf("%d written", streams*events-written)
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("%d already there", written)) || !strings.Contains(out, "verified") {
		t.Fatalf("resume: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	sameEvents(t, storeEvents(t, target), storeEvents(t, openSQLite(t, src)), false)
}

// TestCopyVerifyFinds: --verify reports events that differ, are missing or
// are extra in the target, with exit code 1.
func TestCopyVerifyFinds(t *testing.T) {
	src := richFile(t)
	dst := filepath.Join(t.TempDir(), "dst.db")
	target := openSQLite(t, dst)
	// The same ID as the source's event, other data: copy takes it as
	// there; verify finds it.
	if _, err := target.Append(t.Context(), "order-2", chronicle.NoStream, chronicle.EventData{ID: "o2-1", Type: "Number", Data: []byte("1000")}); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "copy", "--from", src, "--to", dst); code != 0 {
		t.Fatalf("copy: exit %d, stderr %q", code, errOut)
	}
	if _, err := target.Append(t.Context(), "order-1", chronicle.Any, chronicle.EventData{Type: "Extra"}); err != nil {
		t.Fatal(err)
	}
	if _, err := target.Append(t.Context(), "only-in-target", chronicle.Any, chronicle.EventData{Type: "Extra"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "copy", "--from", src, "--to", dst, "--verify")
	if code != exitFail || strings.Contains(out, "verified") {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	for _, want := range []string{
		`stream "order-1" version 4: only in the target (the source's stream ends at version 3)` + "\n",
		`stream "order-2" version 1: time: source 2026-12-01T10:00:05Z, target `,
		`; data: source 1e3 (3 bytes), target 1000 (4 bytes); metadata: source {} (2 bytes), target (empty)` + "\n",
		"chronicle copy: verify: 2 of 4 streams differ between " + src + " and " + dst + "\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	// A stream that the target lacks.
	n, diff, err := compareStream(t.Context(), &store{Store: openSQLite(t, src)}, &store{Store: openSQLite(t, filepath.Join(t.TempDir(), "empty.db"))}, "order-1")
	if err != nil || n != 1 || diff != `stream "order-1" version 1: missing in the target, whose stream ends at version 0` {
		t.Errorf("missing stream: %d, %q, %v", n, diff, err)
	}
}

func TestCopyUsage(t *testing.T) {
	src := fixtureFile(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"copy"}, exitUsage, "give the source with --from and the target with --to"},
		{[]string{"copy", "--from", src}, exitUsage, "--to"},
		{[]string{"--db", src, "copy", "--from", src, "--to", "x.db"}, exitUsage, "not --db and --schema"},
		{[]string{"copy", "--from", src, "--to", src}, exitUsage, "the same store"},
		{[]string{"copy", "--from", src, "--to", filepath.Join(filepath.Dir(src), ".", filepath.Base(src))}, exitUsage, "the same store"},
		{[]string{"copy", "--from", "postgres://h/db", "--to", "postgres://h/db", "--to-schema", "chronicle"}, exitUsage, "the same store"},
		{[]string{"copy", "--from", src, "--from-schema", "s", "--to", "x.db"}, exitUsage, "--from-schema applies to PostgreSQL stores only"},
		{[]string{"copy", "--from", src, "--to", "x.db", "--batch", "0"}, exitUsage, "--batch"},
		{[]string{"copy", "--from", src, "--to", "x.db", "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"copy", "--from", filepath.Join(dir, "missing.db"), "--to", filepath.Join(dir, "x.db")}, exitFail, "no store at"},
	} {
		code, out, errOut := run(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
}

func TestSameJSON(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{``, ``, true},
		{`{"a":1,"b":[1,2]}`, `{"b": [1, 2], "a": 1}`, true},
		{`{"n":1e2}`, `{"n": 100}`, true},
		{`{"n":1.50}`, `{"n":1.5}`, true},
		{`{"s":"\u00e9"}`, `{"s":"é"}`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":1}`, `{"a":1,"b":null}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":"1"}`, `{"a":1}`, false},
		{`{}`, ``, false},
		{`{"big":12345678901234567890}`, `{"big":12345678901234567891}`, false},
	} {
		if got := sameJSON([]byte(tc.a), []byte(tc.b)); got != tc.same {
			t.Errorf("sameJSON(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
