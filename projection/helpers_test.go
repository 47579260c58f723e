package projection_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/jackc/pgx/v5"
)

// env is one backend under test: a store, its database/sql handle, and how
// to write SQL for it.
type env struct {
	name   string
	store  *chronicle.Store
	db     *sql.DB
	schema string // PostgreSQL: the schema of the store and the read models
	path   string // SQLite: the file
	reopen func(t *testing.T) *chronicle.Store
}

// table names a read-model table in the store's database.
func (e *env) table(name string) string {
	if e.schema != "" {
		return e.schema + "." + name
	}
	return name
}

// q rewrites ? placeholders for the backend.
func (e *env) q(query string) string {
	if e.schema == "" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// backends runs f once per backend: SQLite always, PostgreSQL when
// CHRONICLE_TEST_POSTGRES_URL is set.
func backends(t *testing.T, f func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { f(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, openPostgres(t)) })
}

func openSQLite(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	e := &env{name: "sqlite", path: path}
	e.reopen = func(t *testing.T) *chronicle.Store {
		s, err := sqlite.Open(context.Background(), path, &sqlite.Options{PollInterval: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	e.store = e.reopen(t)
	db, err := sqlite.DB(e.store)
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	return e
}

func openPostgres(t *testing.T) *env {
	t.Helper()
	url := os.Getenv("CHRONICLE_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("CHRONICLE_TEST_POSTGRES_URL is not set: no PostgreSQL to test against " +
			"(e.g. CHRONICLE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test)")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "p_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	e := &env{name: "postgres", schema: schema}
	e.reopen = func(t *testing.T) *chronicle.Store {
		s, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema, MaxConns: 8, PollInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	e.store = e.reopen(t)
	db, err := postgres.DB(e.store)
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	return e
}

// balances is a read model: events per stream and the sum of their
// amounts, plus how many times each event was applied.
type balances struct {
	e     *env
	table string // balances_v<version> unless one table for all
	// fail, when set, makes the handler fail on the events it selects.
	fail func(ev chronicle.Event) bool
	// failInDB, when set, makes the Exec handler add a statement that
	// fails in the database for the events it selects.
	failInDB func(ev chronicle.Event) bool
	// failPrepare, when set, makes the Exec handler add a statement on a
	// table that does not exist for the events it selects: the database
	// refuses to prepare it.
	failPrepare func(ev chronicle.Event) bool
}

func (m *balances) create(t *testing.T, version int) {
	t.Helper()
	ctx := context.Background()
	for _, s := range []string{
		"CREATE TABLE IF NOT EXISTS " + m.name(version) + " (stream TEXT PRIMARY KEY, n BIGINT NOT NULL, total BIGINT NOT NULL)",
		"CREATE TABLE IF NOT EXISTS " + m.applied(version) + " (id TEXT PRIMARY KEY, times BIGINT NOT NULL)",
	} {
		if _, err := m.e.db.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
}

func (m *balances) name(version int) string {
	return m.e.table(fmt.Sprintf("%s_v%d", m.table, version))
}

func (m *balances) applied(version int) string {
	return m.e.table(fmt.Sprintf("%s_applied_v%d", m.table, version))
}

var errPoison = errors.New("poison event")

// handle is the SQL handler.
func (m *balances) handle(ctx context.Context, tx *sql.Tx, b projection.Batch) error {
	for _, ev := range b.Events {
		if m.fail != nil && m.fail(ev) {
			return fmt.Errorf("%w: %s", errPoison, ev.ID)
		}
		amount, _ := strconv.ParseInt(string(ev.Data), 10, 64)
		if _, err := tx.ExecContext(ctx, m.e.q("INSERT INTO "+m.name(b.Version)+" (stream, n, total) VALUES (?, 1, ?) "+
			"ON CONFLICT (stream) DO UPDATE SET n = "+m.name(b.Version)+".n + 1, total = "+m.name(b.Version)+".total + excluded.total"),
			ev.Stream, amount); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.e.q("INSERT INTO "+m.applied(b.Version)+" (id, times) VALUES (?, 1) "+
			"ON CONFLICT (id) DO UPDATE SET times = "+m.applied(b.Version)+".times + 1"), ev.ID); err != nil {
			return err
		}
	}
	return nil
}

// exec is the Exec handler: the same statements as handle, queued. An
// event that failInDB selects adds a statement that the database refuses
// (a NULL in a NOT NULL column), after the statements of the events before
// it in the batch.
func (m *balances) exec(ctx context.Context, stmts *projection.Statements, b projection.Batch) error {
	for _, ev := range b.Events {
		if m.fail != nil && m.fail(ev) {
			return fmt.Errorf("%w: %s", errPoison, ev.ID)
		}
		amount, _ := strconv.ParseInt(string(ev.Data), 10, 64)
		stmts.Add(m.e.q("INSERT INTO "+m.name(b.Version)+" (stream, n, total) VALUES (?, 1, ?) "+
			"ON CONFLICT (stream) DO UPDATE SET n = "+m.name(b.Version)+".n + 1, total = "+m.name(b.Version)+".total + excluded.total"),
			ev.Stream, amount)
		times := any(int64(1))
		if m.failInDB != nil && m.failInDB(ev) {
			times = nil
		}
		if m.failPrepare != nil && m.failPrepare(ev) {
			stmts.Add(m.e.q("INSERT INTO "+m.e.table("no_such_table")+" (id) VALUES (?)"), ev.ID)
		}
		stmts.Add(m.e.q("INSERT INTO "+m.applied(b.Version)+" (id, times) VALUES (?, ?) "+
			"ON CONFLICT (id) DO UPDATE SET times = "+m.applied(b.Version)+".times + 1"), ev.ID, times)
	}
	return nil
}

// rows returns the read model as stream → "n/total".
func (m *balances) rows(t *testing.T, version int) map[string]string {
	t.Helper()
	rs, err := m.e.db.QueryContext(context.Background(), "SELECT stream, n, total FROM "+m.name(version))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	out := map[string]string{}
	for rs.Next() {
		var s string
		var n, total int64
		if err := rs.Scan(&s, &n, &total); err != nil {
			t.Fatal(err)
		}
		out[s] = fmt.Sprintf("%d/%d", n, total)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkOnce fails the test unless every event was applied exactly once.
func (m *balances) checkOnce(t *testing.T, version int, want int) {
	t.Helper()
	var n, bad int64
	err := m.e.db.QueryRowContext(context.Background(),
		"SELECT count(*), coalesce(sum(CASE WHEN times <> 1 THEN 1 ELSE 0 END), 0) FROM "+m.applied(version)).Scan(&n, &bad)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 || (want >= 0 && n != int64(want)) {
		t.Fatalf("%s: %d events applied (want %d), %d of them more than once", m.applied(version), n, want, bad)
	}
}

// expected folds the store's events as the read model should hold them.
func expected(t *testing.T, s *chronicle.Store, f chronicle.Filter, skip func(chronicle.Event) bool) map[string]string {
	t.Helper()
	type acc struct{ n, total int64 }
	m := map[string]*acc{}
	for ev, err := range s.ReadAll(context.Background(), chronicle.Position{}, &chronicle.ReadOptions{Filter: f}) {
		if err != nil {
			t.Fatal(err)
		}
		if skip != nil && skip(ev) {
			continue
		}
		a := m[ev.Stream]
		if a == nil {
			a = &acc{}
			m[ev.Stream] = a
		}
		amount, _ := strconv.ParseInt(string(ev.Data), 10, 64)
		a.n++
		a.total += amount
	}
	out := map[string]string{}
	for s, a := range m {
		out[s] = fmt.Sprintf("%d/%d", a.n, a.total)
	}
	return out
}

// appendN appends n events round-robin over streams prefix-0 … and
// returns the last position.
func appendN(t *testing.T, s *chronicle.Store, prefix string, streams, n int, typ string) chronicle.Position {
	t.Helper()
	var last chronicle.Position
	for i := range n {
		res, err := s.Append(context.Background(), fmt.Sprintf("%s-%d", prefix, i%streams), chronicle.Any,
			chronicle.EventData{Type: typ, Data: []byte(strconv.Itoa(i + 1))})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Positions[len(res.Positions)-1]
	}
	return last
}

// start runs r until the test ends and returns a function that stops it
// and waits for Run to return.
func start(t *testing.T, r *projection.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return 30s after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitFor calls r.WaitFor with a deadline.
func waitFor(t *testing.T, r *projection.Runner, pos chronicle.Position, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, pos, names...); err != nil {
		t.Fatalf("WaitFor(%s, %v): %v", pos, names, err)
	}
}

// eventually polls cond until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func status(t *testing.T, r *projection.Runner, name string, version int) projection.Status {
	t.Helper()
	sts, err := r.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st, ok := pickStatus(sts, name, version)
	if !ok {
		t.Fatalf("no status for %s version %d in %+v", name, version, sts)
	}
	return st
}

// pickStatus returns the status of one projection version from sts.
func pickStatus(sts []projection.Status, name string, version int) (projection.Status, bool) {
	for _, st := range sts {
		if st.Name == name && st.Version == version {
			return st, true
		}
	}
	return projection.Status{}, false
}

// newRunner is projection.New for tests that expect it to succeed.
func newRunner(t *testing.T, s *chronicle.Store, opts *projection.Options, ps ...projection.Projection) *projection.Runner {
	t.Helper()
	r, err := projection.New(s, opts, ps...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// explain logs the events of the store that the read model has not
// applied, to tell a skipped event from a repeated one.
func (m *balances) explain(t *testing.T, version int) {
	t.Helper()
	applied := map[string]int{}
	rs, err := m.e.db.QueryContext(context.Background(), "SELECT id, times FROM "+m.applied(version))
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id string
		var n int
		if err := rs.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		applied[id] = n
	}
	rs.Close()
	var prev chronicle.Event
	for ev, err := range m.e.store.ReadAll(context.Background(), chronicle.Position{}, nil) {
		if err != nil {
			t.Fatal(err)
		}
		if n := applied[ev.ID]; n != 1 {
			t.Logf("event %s at %s (stream %s v%d, after %s) applied %d times", ev.ID, ev.Position, ev.Stream, ev.Version, prev.Position, n)
		}
		prev = ev
	}
	for _, r := range []string{"chronicle_projection_log", m.e.schema + ".projection_log"} {
		if rows, err := m.e.db.QueryContext(context.Background(), "SELECT action, detail FROM "+r); err == nil {
			for rows.Next() {
				var a, d string
				_ = rows.Scan(&a, &d)
				t.Logf("log: %s %s", a, d)
			}
			rows.Close()
		}
	}
}

// clear empties the read model of version in tx (a projection's Reset).
func (m *balances) clear(ctx context.Context, tx *sql.Tx, version int) error {
	for _, t := range []string{m.name(version), m.applied(version)} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return err
		}
	}
	return nil
}

// appendBursts appends, in each of bursts rounds, each events from each of
// four goroutines at once (streams a-<round>-<i mod streams> and
// b-<round>-…, types Deposited and Refunded, two goroutines each), then
// waits until the named projections of r have them all.
func appendBursts(t *testing.T, e *env, r *projection.Runner, bursts, each, streams int, names ...string) {
	t.Helper()
	for burst := range bursts {
		var wg sync.WaitGroup
		positions := make([]chronicle.Position, 4)
		errs := make([]error, 4)
		for g := range 4 {
			wg.Go(func() {
				prefix, typ := []string{"a", "b"}[g%2], []string{"Deposited", "Refunded"}[g/2]
				for i := range each {
					res, err := e.store.Append(t.Context(), fmt.Sprintf("%s-%d-%d", prefix, burst, i%streams), chronicle.Any,
						chronicle.EventData{Type: typ, Data: []byte(strconv.Itoa(i + 1))})
					if err != nil {
						errs[g] = err
						return
					}
					positions[g] = res.Positions[0]
				}
			})
		}
		wg.Wait()
		for g, p := range positions {
			if errs[g] != nil {
				t.Fatal(errs[g])
			}
			waitFor(t, r, p, names...)
		}
	}
}

// count is the number of events a read model of expected's shape holds.
func count(rows map[string]string) int {
	n := 0
	for _, v := range rows {
		var c, sum int
		_, _ = fmt.Sscanf(v, "%d/%d", &c, &sum)
		n += c
	}
	return n
}
