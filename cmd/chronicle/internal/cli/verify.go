package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/spf13/cobra"
)

// The kinds of problem verify reports.
const (
	kindIntegrity      = "integrity"             // SQLite's integrity_check or PostgreSQL's amcheck found damage
	kindSchema         = "schema"                // one of Chronicle's tables or indexes is missing
	kindRead           = "read"                  // a query failed: damaged pages or rows
	kindIndex          = "index"                 // the events found through an index and in the table differ
	kindPosition       = "position"              // positions not positive, or not increasing in commit order
	kindVersionGap     = "version-gap"           // versions missing from a stream
	kindVersionDup     = "version-duplicate"     // a version held by two events of a stream
	kindVersionInvalid = "version-invalid"       // a version below 1
	kindVersionOrder   = "version-order"         // a later version at an earlier position
	kindStreamVersion  = "stream-version"        // the stream row's version is not the stream's last
	kindStreamTime     = "stream-time"           // the stream row's first or last time is not its events'
	kindStreamEmpty    = "stream-without-events" // a stream row without events
	kindStreamMissing  = "events-without-stream" // events without a stream row
	kindMetadata       = "metadata"              // metadata neither empty nor a JSON object
	kindType           = "type"                  // an empty event type
	kindID             = "id"                    // an empty event ID
	kindIDDuplicate    = "id-duplicate"          // a keyed ID held by two events of a stream
)

// verifyProblem is one thing verify found wrong.
type verifyProblem struct {
	Kind     string `json:"kind"`
	Stream   string `json:"stream,omitempty"`
	Version  *int64 `json:"version,omitempty"`
	Position string `json:"position,omitempty"`
	Detail   string `json:"detail"`
}

// verifyReport is what verify prints.
type verifyReport struct {
	OK       bool             `json:"ok"`
	Store    string           `json:"store"`
	Backend  string           `json:"backend"`
	Events   int64            `json:"events"`
	Streams  int64            `json:"streams"`
	Problems []verifyProblem  `json:"problems"`
	Counts   map[string]int64 `json:"counts"`            // problems of each kind, listed or not
	Unlisted int64            `json:"unlisted"`          // problems counted but not listed (past --max of their kind)
	Checked  []string         `json:"checked"`           // the checks of the file or the database run beyond the rows'
	Skipped  []string         `json:"skipped,omitempty"` // checks not run, and why
	Seconds  float64          `json:"seconds"`
}

const verifyLong = `Check the store and report what is wrong with it. Exit code 0: healthy;
1: problems found, each reported with its kind, stream, version or
position and what is wrong (at most --max of each kind listed, the rest
counted); 2: a bad command line.

verify reads Chronicle's tables directly, with SQL, in one read-only
transaction (a consistent snapshot: appends may go on meanwhile), streaming
and in constant memory, so that damaged rows are reported, not fatal. A
query that fails on damaged data is reported as a read problem and the
checks go on with the next one. It checks that:

  - each stream's versions run from 1 without a gap or a repeat
    (version-gap, version-duplicate, version-invalid);
  - positions are positive and strictly increase in commit order, and
    within each stream a later version never has an earlier position
    (position, version-order);
  - the streams table matches the events: each stream's row holds its last
    version and the times of its first and last events; no row lacks
    events and no events lack a row (stream-version, stream-time,
    stream-without-events, events-without-stream);
  - each event's metadata is empty or a JSON object, its type and ID are
    not empty, and keyed IDs are unique in their stream (metadata, type,
    id, id-duplicate);
  - Chronicle's tables and indexes exist (schema), and reading the events
    through the (stream, version) index finds as many as the table holds
    (index);
  - SQLite: PRAGMA integrity_check over the whole file (or quick_check
    with --quick), each message an integrity problem.
    PostgreSQL: each B-tree index of the store's schema with amcheck's
    bt_index_check, heap included, when the amcheck extension is installed
    in the database (CREATE EXTENSION amcheck, by a superuser) and the user
    may run it; otherwise that check is skipped, and the report says so.
    PostgreSQL has no check of table pages beyond its data checksums.

--json prints one JSON object: ok, store, backend, events, streams,
problems (kind, stream, version, position, detail), counts (problems of
each kind, listed or not), unlisted (problems counted but not listed),
checked (the file or index checks run), skipped (those not run, and why)
and seconds.`

func (a *app) verifyCmd() *cobra.Command {
	var (
		jsonOut bool
		max     int
		quick   bool
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the store's consistency and integrity; exit 1 when anything is wrong",
		Long:  verifyLong,
		Example: `  chronicle --db events.db verify
  chronicle --db events.db verify --quick --max 10
  chronicle --db postgres://localhost/app verify --json | jq .counts`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if max < 0 {
				return usagef("--max must not be negative")
			}
			ctx := cmd.Context()
			s, err := a.open(ctx, false)
			if err != nil {
				return err
			}
			defer s.close(&err)
			if quick && s.loc.postgres() {
				return usagef("--quick applies to SQLite stores only")
			}
			db, ok := s.Backend().(sqlStore)
			if !ok {
				return fmt.Errorf("the %T backend cannot be verified", s.Backend())
			}
			v := newVerifier(db, s.loc, max, quick)
			v.progress, v.barOut = !jsonOut, cmd.ErrOrStderr()
			rep, err := v.run(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				err = json.NewEncoder(out).Encode(rep)
			} else {
				err = rep.print(out)
			}
			if err == nil && !rep.OK {
				err = errReported
			}
			return err
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&jsonOut, "json", false, "print one JSON object instead of text")
	fs.IntVar(&max, "max", 100, "list at most this many problems of each kind, and count the rest (0: list all)")
	fs.BoolVar(&quick, "quick", false, "SQLite: run PRAGMA quick_check, which skips matching indexes to tables, instead of integrity_check")
	return cmd
}

// verifier checks one store.
type verifier struct {
	db       sqlStore
	pg       bool
	schema   string // PostgreSQL only
	max      int
	quick    bool
	progress bool
	barOut   io.Writer

	events, streams string // the tables, as written in SQL
	tx              *sql.Tx
	estimate        int64 // events, from the stream rows, for the progress bar
	byStream        int64 // events read in (stream, version) order
	rep             *verifyReport
}

func newVerifier(db sqlStore, loc location, max int, quick bool) *verifier {
	v := &verifier{
		db: db, pg: db.SQLDialect() == "postgres", schema: loc.schema, max: max, quick: quick,
		events: db.SQLTable("events"), streams: db.SQLTable("streams"),
		rep: &verifyReport{Store: loc.String(), Backend: db.SQLDialect(), Problems: []verifyProblem{}, Counts: map[string]int64{}, Checked: []string{}},
	}
	if v.schema == "" {
		v.schema = postgres.DefaultSchema
	}
	return v
}

// add records p, listing it unless its kind has --max listed already.
func (v *verifier) add(p verifyProblem) {
	v.rep.Counts[p.Kind]++
	if v.max > 0 && v.rep.Counts[p.Kind] > int64(v.max) {
		v.rep.Unlisted++
		return
	}
	v.rep.Problems = append(v.rep.Problems, p)
}

// run runs every check in one read-only transaction.
func (v *verifier) run(ctx context.Context) (*verifyReport, error) {
	start := time.Now()
	opts := &sql.TxOptions{ReadOnly: true}
	if v.pg {
		opts.Isolation = sql.LevelRepeatableRead // one snapshot for every query
	}
	tx, err := v.db.DB().BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin a read transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	v.tx = tx
	integrity, check := v.sqliteIntegrity, "PRAGMA integrity_check"
	switch {
	case v.pg:
		integrity, check = v.amcheck, "amcheck"
	case v.quick:
		check = "PRAGMA quick_check"
	}
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{check, integrity},
		{"reading the schema", v.checkSchema},
		{"reading the stream rows", v.checkStreamRows},
		{"reading the events by stream", v.checkByStream},
		{"reading the events by position", v.checkByPosition},
		{"reading the keyed IDs", v.checkKeys},
	}
	for _, s := range steps {
		if err := v.step(ctx, s.what, s.fn); err != nil {
			return nil, err
		}
	}
	v.rep.OK = len(v.rep.Counts) == 0
	v.rep.Seconds = time.Since(start).Seconds()
	return v.rep, nil
}

// step runs fn, reporting its error as a read problem. On PostgreSQL it
// runs in a savepoint, so that the transaction outlives the error.
func (v *verifier) step(ctx context.Context, what string, fn func(context.Context) error) error {
	err := v.savepoint(ctx, "verify_step", func() error { return fn(ctx) })
	if err == nil || ctx.Err() != nil {
		return err
	}
	var se *savepointError
	if errors.As(err, &se) {
		return se.err
	}
	v.add(verifyProblem{Kind: kindRead, Detail: what + ": " + err.Error()})
	return nil
}

// savepointError is the failure of the savepoint itself, which ends the
// check.
type savepointError struct{ err error }

func (e *savepointError) Error() string { return e.err.Error() }

// savepoint runs fn, on PostgreSQL within a savepoint rolled back when fn
// fails.
func (v *verifier) savepoint(ctx context.Context, name string, fn func() error) error {
	if !v.pg {
		return fn()
	}
	if _, err := v.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return &savepointError{err}
	}
	if err := fn(); err != nil {
		if _, rerr := v.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); rerr != nil {
			return &savepointError{rerr}
		}
		return err
	}
	if _, err := v.tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return &savepointError{err}
	}
	return nil
}

// sqliteIntegrity runs PRAGMA integrity_check (or quick_check) on the
// whole file.
func (v *verifier) sqliteIntegrity(ctx context.Context) error {
	pragma := "integrity_check"
	if v.quick {
		pragma = "quick_check"
	}
	v.rep.Checked = append(v.rep.Checked, "PRAGMA "+pragma)
	limit := v.max
	if limit == 0 {
		limit = 1 << 30
	}
	rows, err := v.tx.QueryContext(ctx, "PRAGMA "+pragma+"("+strconv.Itoa(limit)+")")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			return err
		}
		if msg == "ok" {
			continue
		}
		// The first message starts with a line that names the database.
		for line := range strings.Lines(msg) {
			line = strings.TrimSpace(line)
			if line != "" && !(strings.HasPrefix(line, "*** in database ") && strings.HasSuffix(line, " ***")) {
				v.add(verifyProblem{Kind: kindIntegrity, Detail: line})
			}
		}
	}
	return rows.Err()
}

// amcheck checks the B-tree indexes of the store's schema with amcheck's
// bt_index_check, heap included, when the extension is installed and the
// user may run it.
func (v *verifier) amcheck(ctx context.Context) error {
	var ns string
	err := v.tx.QueryRowContext(ctx, "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'amcheck'").Scan(&ns)
	if errors.Is(err, sql.ErrNoRows) {
		v.rep.Skipped = append(v.rep.Skipped, "amcheck: the extension is not installed in the database, so the indexes were not checked; "+
			"a superuser's CREATE EXTENSION amcheck enables the check")
		return nil
	}
	if err != nil {
		return err
	}
	fn := ns + ".bt_index_check(regclass, boolean)"
	var may bool
	if err := v.tx.QueryRowContext(ctx, "SELECT has_function_privilege($1, 'EXECUTE')", fn).Scan(&may); err != nil {
		return err
	}
	if !may {
		v.rep.Skipped = append(v.rep.Skipped, "amcheck: the user may not run "+fn+", so the indexes were not checked")
		return nil
	}
	rows, err := v.tx.QueryContext(ctx, "SELECT c.oid::regclass::text FROM pg_class c "+
		"JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_am am ON am.oid = c.relam "+
		"WHERE n.nspname = $1 AND c.relkind = 'i' AND am.amname = 'btree' ORDER BY c.relname", v.schema)
	if err != nil {
		return err
	}
	var indexes []string
	for rows.Next() {
		var ix string
		if err := rows.Scan(&ix); err != nil {
			rows.Close()
			return err
		}
		indexes = append(indexes, ix)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	v.rep.Checked = append(v.rep.Checked, fmt.Sprintf("amcheck bt_index_check of %d indexes", len(indexes)))
	for _, ix := range indexes {
		err := v.savepoint(ctx, "verify_index", func() error {
			_, err := v.tx.ExecContext(ctx, "SELECT "+ns+".bt_index_check($1::regclass, true)", ix)
			return err
		})
		var se *savepointError
		switch {
		case err == nil:
		case ctx.Err() != nil || errors.As(err, &se):
			return err
		default:
			v.add(verifyProblem{Kind: kindIntegrity, Detail: "index " + ix + ": " + err.Error()})
		}
	}
	return nil
}

// checkSchema reports Chronicle's tables and indexes that are missing.
func (v *verifier) checkSchema(ctx context.Context) error {
	var q string
	var qargs []any
	var want []string
	if v.pg {
		q = "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1"
		qargs = []any{v.schema}
		want = []string{"events", "streams", "snapshots", "events_pkey", "events_stream_version", "events_stream_key", "streams_pkey", "snapshots_pkey"}
	} else {
		q = "SELECT name FROM sqlite_schema WHERE type IN ('table', 'index')"
		want = []string{"chronicle_events", "chronicle_streams", "chronicle_snapshots", "chronicle_events_stream_version", "chronicle_events_stream_key"}
	}
	rows, err := v.tx.QueryContext(ctx, q, qargs...)
	if err != nil {
		return err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		have[name] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, name := range want {
		if !have[name] {
			what := "index"
			if !strings.Contains(name, "_stream_") && !strings.HasSuffix(name, "_pkey") {
				what = "table"
			}
			v.add(verifyProblem{Kind: kindSchema, Detail: fmt.Sprintf("the %s %s is missing", what, name)})
		}
	}
	return nil
}

// checkStreamRows counts the stream rows and reports those without events.
func (v *verifier) checkStreamRows(ctx context.Context) error {
	err := v.tx.QueryRowContext(ctx, "SELECT count(*), coalesce(sum(version), 0) FROM "+v.streams).Scan(&v.rep.Streams, &v.estimate)
	if err != nil {
		return err
	}
	rows, err := v.tx.QueryContext(ctx, "SELECT s.name, s.version FROM "+v.streams+" s WHERE NOT EXISTS "+
		"(SELECT 1 FROM "+v.events+" e WHERE e.stream = s.name) ORDER BY s.name")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var version int64
		if err := rows.Scan(&name, &version); err != nil {
			return err
		}
		v.add(verifyProblem{Kind: kindStreamEmpty, Stream: name, Version: &version,
			Detail: fmt.Sprintf("the stream row says version %d, but the stream has no events", version)})
	}
	return rows.Err()
}

// storedPos is a position as stored: SQLite's one number twice, PostgreSQL's
// (tx_id, seq).
type storedPos struct{ c, p int64 }

func (p storedPos) less(q storedPos) bool { return p.c < q.c || p.c == q.c && p.p < q.p }

func (p storedPos) String() string {
	if p.c >= 0 && p.p >= 0 {
		return chronicle.Position{Commit: uint64(p.c), Prepare: uint64(p.p)}.String()
	}
	if p.c == p.p {
		return strconv.FormatInt(p.c, 10)
	}
	return strconv.FormatInt(p.c, 10) + "/" + strconv.FormatInt(p.p, 10)
}

// bar shows the progress of a scan of every event, on a terminal.
func (v *verifier) bar(desc string) *bar {
	total := v.estimate
	if total <= 0 {
		total = -1 // unknown
	}
	return newBar(v.barOut, total, desc, v.progress)
}

// posColumns selects the position's two parts from table alias t ("" for
// none).
func (v *verifier) posColumns(t string) string {
	if t != "" {
		t += "."
	}
	if v.pg {
		return t + "tx_id, " + t + "seq"
	}
	return t + "position, " + t + "position"
}

// streamRun is what checkByStream knows of the stream it is reading.
type streamRun struct {
	name              string
	row               bool // the stream has a row
	rowVersion        int64
	rowFirst, rowLast int64
	events            int64
	last              int64 // the last valid version read, 0 before the first
	lastPos           storedPos
	firstTS, lastTS   int64 // of the first and last events with valid versions
	firstV            int64
	firstPos          storedPos
}

// checkByStream reads every event in (stream, version) order (position
// last, so that events with the same version come in a fixed order), with
// its stream's row, and checks versions, positions, the stream row and
// each event's fields.
func (v *verifier) checkByStream(ctx context.Context) error {
	meta := "e.meta"
	if v.pg {
		meta = "e.meta::text"
	}
	q := "SELECT " + v.posColumns("e") + ", e.stream, e.version, e.ts, e.type, " + meta + ", e.id, s.version, s.first_ts, s.last_ts " +
		"FROM " + v.events + " e LEFT JOIN " + v.streams + " s ON s.name = e.stream ORDER BY e.stream, e.version, " + v.posColumns("e")
	rows, err := v.tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	b := v.bar("events by stream")
	defer b.done()
	var (
		run                       *streamRun
		at                        storedPos
		version, ts               int64
		stream, typ, metadata, id sql.RawBytes
		rowVer, rowFirst, rowLast sql.NullInt64
		dest                      = []any{&at.c, &at.p, &stream, &version, &ts, &typ, &metadata, &id, &rowVer, &rowFirst, &rowLast}
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return v.scanError(err, run)
		}
		if run == nil || string(stream) != run.name {
			if run != nil {
				v.endStream(run)
			}
			run = &streamRun{name: string(stream), row: rowVer.Valid, rowVersion: rowVer.Int64, rowFirst: rowFirst.Int64, rowLast: rowLast.Int64}
		}
		v.byStream++
		if v.byStream%1024 == 0 {
			b.add(1024)
		}
		v.checkEvent(run, at, version, ts, typ, metadata, id)
	}
	if err := rows.Err(); err != nil {
		return v.scanError(err, run)
	}
	if run != nil {
		v.endStream(run)
	}
	v.rep.Events = v.byStream
	return nil
}

// scanError says where the scan by stream stopped.
func (v *verifier) scanError(err error, run *streamRun) error {
	v.rep.Events = v.byStream
	if run == nil {
		return err
	}
	return fmt.Errorf("after stream %q version %d: %w", run.name, run.last, err)
}

// checkEvent checks one event of run, read in version order.
func (v *verifier) checkEvent(run *streamRun, at storedPos, version, ts int64, typ, metadata, id []byte) {
	p := func(kind, detail string) verifyProblem {
		ver := version
		return verifyProblem{Kind: kind, Stream: run.name, Version: &ver, Position: at.String(), Detail: detail}
	}
	run.events++
	switch next := run.last + 1; {
	case version < 1:
		v.add(p(kindVersionInvalid, fmt.Sprintf("version %d: versions start at 1", version)))
	case version < next:
		v.add(p(kindVersionDup, fmt.Sprintf("version %d again (the first is at position %s)", version, run.lastPos)))
	default:
		if version > next {
			missing := fmt.Sprintf("version %d is missing", next)
			if version > next+1 {
				missing = fmt.Sprintf("versions %d to %d are missing", next, version-1)
			}
			gap := p(kindVersionGap, fmt.Sprintf("%s: the stream goes from version %d to %d", missing, run.last, version))
			if run.last == 0 {
				gap.Detail = fmt.Sprintf("%s: the stream starts at version %d", missing, version)
			}
			gap.Version = &next
			v.add(gap)
		}
		if run.last > 0 && !run.lastPos.less(at) {
			v.add(p(kindVersionOrder, fmt.Sprintf("version %d is at position %s, not after version %d at position %s",
				version, at, run.last, run.lastPos)))
		}
		if run.last == 0 {
			run.firstV, run.firstTS, run.firstPos = version, ts, at
		}
		run.last, run.lastPos, run.lastTS = version, at, ts
	}
	if len(typ) == 0 {
		v.add(p(kindType, "the event type is empty"))
	}
	if len(id) == 0 {
		v.add(p(kindID, "the event ID is empty"))
	}
	if msg := metadataProblem(metadata); msg != "" {
		v.add(p(kindMetadata, msg))
	}
}

// endStream checks the stream row of run against its events.
func (v *verifier) endStream(run *streamRun) {
	if !run.row {
		v.add(verifyProblem{Kind: kindStreamMissing, Stream: run.name,
			Detail: fmt.Sprintf("%d events (the last version %d) but no stream row", run.events, run.last)})
		return
	}
	if run.last == 0 {
		return // no valid version: reported already
	}
	if run.rowVersion != run.last {
		ver := run.rowVersion
		v.add(verifyProblem{Kind: kindStreamVersion, Stream: run.name, Version: &ver,
			Detail: fmt.Sprintf("the stream row says version %d, but the last event is version %d", run.rowVersion, run.last)})
	}
	if run.rowFirst != run.firstTS {
		ver := run.firstV
		v.add(verifyProblem{Kind: kindStreamTime, Stream: run.name, Version: &ver, Position: run.firstPos.String(),
			Detail: fmt.Sprintf("the stream row's first time is %s, but the first event's is %s", nsString(run.rowFirst), nsString(run.firstTS))})
	}
	if run.rowLast != run.lastTS {
		ver := run.last
		v.add(verifyProblem{Kind: kindStreamTime, Stream: run.name, Version: &ver, Position: run.lastPos.String(),
			Detail: fmt.Sprintf("the stream row's last time is %s, but the last event's is %s", nsString(run.rowLast), nsString(run.lastTS))})
	}
}

func nsString(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// metadataProblem says what is wrong with stored metadata: "" when it is
// empty or a JSON object.
func metadataProblem(m []byte) string {
	if len(m) == 0 {
		return ""
	}
	if !json.Valid(m) {
		return "the metadata is not valid JSON: " + quotePreview(m)
	}
	switch t := bytes.TrimLeft(m, " \t\r\n"); t[0] {
	case '{':
		return ""
	case '[':
		return "the metadata is a JSON array, not an object: " + quotePreview(m)
	case '"':
		return "the metadata is a JSON string, not an object: " + quotePreview(m)
	case 'n':
		return "the metadata is JSON null, not an object"
	case 't', 'f':
		return "the metadata is a JSON boolean, not an object: " + quotePreview(m)
	}
	return "the metadata is a JSON number, not an object: " + quotePreview(m)
}

// quotePreview quotes the start of b.
func quotePreview(b []byte) string {
	const max = 40
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "…"
	}
	return strconv.Quote(string(b))
}

// checkByPosition reads the positions in commit order: they must be
// positive and strictly increase, and as many as the scan by stream found.
func (v *verifier) checkByPosition(ctx context.Context) error {
	order := "position"
	if v.pg {
		order = "tx_id, seq"
	}
	rows, err := v.tx.QueryContext(ctx, "SELECT "+v.posColumns("")+" FROM "+v.events+" ORDER BY "+order)
	if err != nil {
		return err
	}
	defer rows.Close()
	b := v.bar("events by position")
	defer b.done()
	var n int64
	var at, prev storedPos
	for rows.Next() {
		if err := rows.Scan(&at.c, &at.p); err != nil {
			return afterPosition(n, prev, err)
		}
		switch {
		case at.c < 1 || at.p < 1:
			v.add(verifyProblem{Kind: kindPosition, Position: at.String(), Detail: "the position is not positive"})
		case n > 0 && !prev.less(at):
			v.add(verifyProblem{Kind: kindPosition, Position: at.String(),
				Detail: fmt.Sprintf("position %s comes after %s in commit order", at, prev)})
		}
		prev = at
		if n++; n%1024 == 0 {
			b.add(1024)
		}
	}
	if err := rows.Err(); err != nil {
		return afterPosition(n, prev, err)
	}
	if n != v.byStream && v.rep.Counts[kindRead] == 0 {
		v.add(verifyProblem{Kind: kindIndex, Detail: fmt.Sprintf("the events table holds %d events in position order, "+
			"but %d in (stream, version) order: an index is damaged", n, v.byStream)})
	}
	return nil
}

// afterPosition says where the scan by position stopped, after n events.
func afterPosition(n int64, prev storedPos, err error) error {
	if n == 0 {
		return err
	}
	return fmt.Errorf("after position %s: %w", prev, err)
}

// checkKeys reports keyed IDs held by more than one event of a stream.
func (v *verifier) checkKeys(ctx context.Context) error {
	keyed := "keyed = 1"
	if v.pg {
		keyed = "keyed"
	}
	rows, err := v.tx.QueryContext(ctx, "SELECT stream, id, count(*), min(version), max(version) FROM "+v.events+
		" WHERE "+keyed+" GROUP BY stream, id HAVING count(*) > 1 ORDER BY stream, id")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var stream, id string
		var n, lo, hi int64
		if err := rows.Scan(&stream, &id, &n, &lo, &hi); err != nil {
			return err
		}
		v.add(verifyProblem{Kind: kindIDDuplicate, Stream: stream, Version: &hi,
			Detail: fmt.Sprintf("the keyed ID %q is held by %d events (versions %d to %d)", id, n, lo, hi)})
	}
	return rows.Err()
}

// print writes the report as text: the problems as a table, then a
// summary line.
func (r *verifyReport) print(w io.Writer) error {
	if r.OK {
		_, err := fmt.Fprintf(w, "%s: ok, %d events in %d streams (%s)\n", r.Store, r.Events, r.Streams, r.note())
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSTREAM\tVERSION\tPOSITION\tDETAIL")
	for _, p := range r.Problems {
		stream, version, position := p.Stream, "-", p.Position
		if stream == "" {
			stream = "-"
		}
		if p.Version != nil {
			version = strconv.FormatInt(*p.Version, 10)
		}
		if position == "" {
			position = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Kind, stream, version, position, p.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var total int64
	listed := map[string]int64{}
	for _, p := range r.Problems {
		listed[p.Kind]++
	}
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(r.Counts)) {
		total += r.Counts[k]
		kinds = append(kinds, fmt.Sprintf("%d %s", r.Counts[k], k))
		if more := r.Counts[k] - listed[k]; more > 0 {
			fmt.Fprintf(w, "… and %d more %s problems, not listed (--max)\n", more, k)
		}
	}
	noun := "problems"
	if total == 1 {
		noun = "problem"
	}
	_, err := fmt.Fprintf(w, "%s: %d %s in %d events, %d streams: %s (%s)\n",
		r.Store, total, noun, r.Events, r.Streams, strings.Join(kinds, ", "), r.note())
	return err
}

// note names what was checked beyond the tables' rows, and what was
// skipped.
func (r *verifyReport) note() string {
	parts := slices.Clone(r.Checked)
	for _, s := range r.Skipped {
		parts = append(parts, "skipped "+s)
	}
	return strings.Join(parts, "; ")
}
