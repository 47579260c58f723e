package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/internal/memback"
	"github.com/chronicle-go/chronicle/sqlite"
)

// dbT returns the database/sql handle of s.
func dbT(t *testing.T, s *chronicle.Store) *sql.DB {
	t.Helper()
	db, err := sqlite.DB(s)
	if err != nil {
		t.Fatalf("sqlite.DB: %v", err)
	}
	return db
}

func execT(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) sql.Result {
	t.Helper()
	res, err := db.ExecContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("Exec(%q): %v", query, err)
	}
	return res
}

func countT(t *testing.T, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("QueryRow(%q): %v", query, err)
	}
	return n
}

const itemsSchema = `
-- an application's read model, beside the store's tables
CREATE TABLE items (
	id    INTEGER PRIMARY KEY,
	name  VARCHAR(40) NOT NULL,
	price REAL,
	data  BLOB,
	at    TEXT,
	ok    INTEGER
);
CREATE TABLE tags (item INTEGER NOT NULL REFERENCES items (id), tag TEXT NOT NULL);
`

// TestDBRoundTrip writes and reads an application's tables through the
// store's database/sql handle: transactions, every kind of value and
// parameter, results and statements.
func TestDBRoundTrip(t *testing.T) {
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "events.db"), nil)
	db := dbT(t, s)
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	execT(t, db, itemsSchema) // several statements, no arguments

	// A transaction: positional arguments, then commit.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 10, 4, 5, 60, time.FixedZone("X", 3600))
	big := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<18)
	res := execT(t, tx, "INSERT INTO items (name, price, data, at, ok) VALUES (?, ?, ?, ?, ?)", "one", 1.5, big, at, true)
	if id, err := res.LastInsertId(); err != nil || id != 1 {
		t.Errorf("LastInsertId = %d, %v; want 1", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Errorf("RowsAffected = %d, %v; want 1", n, err)
	}
	// Named arguments with each prefix, NULLs and an empty blob.
	res = execT(t, tx, "INSERT INTO items (id, name, price, data, at, ok) VALUES (:id, @name, $price, :data, :at, :ok)",
		sql.Named("id", int64(7)), sql.Named("name", "seven"), sql.Named("price", nil),
		sql.Named("data", []byte{}), sql.Named("at", nil), sql.Named("ok", false))
	if id, _ := res.LastInsertId(); id != 7 {
		t.Errorf("LastInsertId = %d, want 7", id)
	}
	execT(t, tx, "INSERT INTO items (id, name, data) VALUES (?3, ?1, ?2)", "eight", []byte(nil), 8)
	execT(t, tx, "INSERT INTO tags (item, tag) VALUES ($2, $1)", "red", 7) // $n bind by number, not by order of use
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	var (
		name  string
		price float64
		data  []byte
		atS   string
		ok    bool
	)
	if err := db.QueryRowContext(ctx, "SELECT name, price, data, at, ok FROM items WHERE id = ?", 1).Scan(&name, &price, &data, &atS, &ok); err != nil {
		t.Fatal(err)
	}
	if name != "one" || price != 1.5 || !bytes.Equal(data, big) || !ok {
		t.Errorf("row 1 = %q, %v, %d bytes, %v", name, price, len(data), ok)
	}
	if want := "2026-11-23T09:04:05.000000060Z"; atS != want {
		t.Errorf("time stored as %q, want %q", atS, want)
	}
	if back, err := time.Parse(time.RFC3339Nano, atS); err != nil || !back.Equal(at) {
		t.Errorf("time parses back as %v, %v; want %v", back, err, at)
	}

	// Every value reads back with the type of what SQLite holds.
	rows, err := db.QueryContext(ctx, "SELECT id, name, price, data, at, ok FROM items ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	cts, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ct := range cts {
		types = append(types, ct.DatabaseTypeName())
	}
	if got, want := fmt.Sprint(types), "[INTEGER VARCHAR REAL BLOB TEXT INTEGER]"; got != want {
		t.Errorf("DatabaseTypeName = %s, want %s", got, want)
	}
	var got []string
	for rows.Next() {
		v := make([]any, 6)
		p := make([]any, 6)
		for i := range v {
			p[i] = &v[i]
		}
		if err := rows.Scan(p...); err != nil {
			t.Fatal(err)
		}
		if b, ok := v[3].([]byte); ok && len(b) > 8 {
			v[3] = fmt.Sprintf("%d bytes", len(b))
		}
		got = append(got, fmt.Sprintf("%T %v|%T %v|%T %v|%T %v|%T %v|%T %v", v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3], v[4], v[4], v[5], v[5]))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"int64 1|string one|float64 1.5|string 1048576 bytes|string 2026-11-23T09:04:05.000000060Z|int64 1",
		"int64 7|string seven|<nil> <nil>|[]uint8 []|<nil> <nil>|int64 0",
		"int64 8|string eight|<nil> <nil>|<nil> <nil>|<nil> <nil>|<nil> <nil>",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
	var ns sql.NullString
	var nf sql.NullFloat64
	if err := db.QueryRowContext(ctx, "SELECT at, price FROM items WHERE id = 8").Scan(&ns, &nf); err != nil || ns.Valid || nf.Valid {
		t.Errorf("NULLs read as %v, %v, %v", ns, nf, err)
	}
	if tag := countT(t, db, "SELECT count(*) FROM tags WHERE item = 7 AND tag = 'red'"); tag != 1 {
		t.Errorf("$n parameters bound out of order: %d matching tags", tag)
	}

	// A rolled back transaction leaves nothing.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	execT(t, tx, "INSERT INTO items (name) VALUES (?)", "gone")
	execT(t, tx, "DELETE FROM tags")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := countT(t, db, "SELECT count(*) FROM items"); n != 3 {
		t.Errorf("%d items after rollback, want 3", n)
	}
	if n := countT(t, db, "SELECT count(*) FROM tags"); n != 1 {
		t.Errorf("%d tags after rollback, want 1", n)
	}

	// RowsAffected of an update of several rows; a prepared statement used
	// several times.
	if n, _ := execT(t, db, "UPDATE items SET ok = ? WHERE id > ?", 1, 1).RowsAffected(); n != 2 {
		t.Errorf("RowsAffected = %d, want 2", n)
	}
	st, err := db.PrepareContext(ctx, "SELECT name FROM items WHERE id = :id")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id, want := range map[int]string{1: "one", 7: "seven", 8: "eight"} {
		var name string
		if err := st.QueryRowContext(ctx, sql.Named("id", id)).Scan(&name); err != nil || name != want {
			t.Errorf("prepared query for %d: %q, %v", id, name, err)
		}
	}
	if err := st.QueryRowContext(ctx, 1, 2).Scan(&name); err == nil {
		t.Error("a prepared statement took more arguments than it has parameters")
	}

	// Foreign keys are on.
	if _, err := db.ExecContext(ctx, "INSERT INTO tags (item, tag) VALUES (?, ?)", 99, "x"); err == nil {
		t.Error("a tag of a missing item was inserted: foreign_keys is off")
	}
	// Mistakes are errors, not silently ignored arguments.
	for _, c := range []struct {
		query string
		args  []any
	}{
		{"INSERT INTO tags (item, tag) VALUES (1, 'a'); INSERT INTO tags (item, tag) VALUES (?, 'b')", []any{1}},
		{"SELECT ?", []any{1, 2}},
		{"SELECT :a", []any{sql.Named("b", 1)}},
		{"SELECT $1, $3", []any{1, 2}},
		{"   -- nothing", []any{1}},
	} {
		if _, err := db.ExecContext(ctx, c.query, c.args...); err == nil {
			t.Errorf("Exec(%q, %v) succeeded", c.query, c.args)
		}
	}
	if n := countT(t, db, "SELECT count(*) FROM tags"); n != 1 {
		t.Errorf("a refused Exec wrote: %d tags", n)
	}
	// A read-only transaction refuses writes, and the connection writes
	// again afterwards.
	ro, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.ExecContext(ctx, "DELETE FROM tags"); err == nil {
		t.Error("a read-only transaction wrote")
	}
	if err := ro.Rollback(); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ro, err = conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Commit(); err != nil {
		t.Fatal(err)
	}
	execT(t, conn, "INSERT INTO tags (item, tag) VALUES (1, 'after')")
	if _, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelLinearizable}); err == nil {
		t.Error("BeginTx accepted LevelLinearizable")
	}
	if tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted}); err != nil {
		t.Errorf("BeginTx(LevelReadCommitted): %v", err)
	} else {
		_ = tx.Rollback()
	}
}

// TestDBInterrupt checks that a context that ends interrupts a long query
// or statement, and that the connection works afterwards.
func TestDBInterrupt(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "events.db"), nil)
	db := dbT(t, s)
	db.SetMaxOpenConns(1) // the next call reuses the interrupted connection
	const forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
	for name, call := range map[string]func(ctx context.Context) error{
		"QueryRow": func(ctx context.Context) error {
			var n int64
			return db.QueryRowContext(ctx, forever+" WHERE x > ?", 0).Scan(&n)
		},
		"Exec": func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, "CREATE TEMP TABLE t AS "+forever)
			return err
		},
		"ExecArgs": func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, "CREATE TEMP TABLE t AS "+forever+" WHERE x > ?", 0)
			return err
		},
		"Tx": func(ctx context.Context) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			_, err = tx.ExecContext(ctx, "CREATE TEMP TABLE t AS "+forever)
			return err
		},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want context.DeadlineExceeded", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: interrupted after %v", name, d)
		}
		if n := countT(t, db, "SELECT 1"); n != 1 {
			t.Errorf("after the interrupt: %d", n)
		}
	}
}

// TestDBReadModifyWrite runs transactions that read and then write from
// several goroutines while the store appends: BEGIN IMMEDIATE makes each
// wait for the lock instead of failing with SQLITE_BUSY.
func TestDBReadModifyWrite(t *testing.T) {
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "events.db"), nil)
	db := dbT(t, s)
	execT(t, db, "CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0)")
	const workers, rounds = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for range workers {
		wg.Go(func() {
			for range rounds {
				err := func() error {
					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					var n int64
					if err := tx.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, "UPDATE counter SET n = ?", n+1); err != nil {
						return err
					}
					return tx.Commit()
				}()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 50 {
			if _, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "T", Data: []byte{byte(i)}}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := countT(t, db, "SELECT n FROM counter"); n != workers*rounds {
		t.Errorf("counter = %d, want %d", n, workers*rounds)
	}
}

// TestDBSameFile checks that an application's rows written through DB and
// the store's events live in one file: both are there after a reopen.
func TestDBSameFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db := dbT(t, s)
	execT(t, db, "CREATE TABLE balances (stream TEXT PRIMARY KEY, total INTEGER NOT NULL)")
	for i := range 3 {
		stream := fmt.Sprintf("acct-%d", i)
		appendN(t, s, stream, i+1)
		execT(t, db, "INSERT INTO balances VALUES (?, ?)", stream, i+1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err == nil {
		t.Error("the handle is open after the store closed")
	}
	if again, err := sqlite.DB(s); err != nil || again != db {
		t.Errorf("DB of a closed store = %p, %v; want the same closed handle %p", again, err, db)
	}

	s = openT(t, path, nil)
	if n := len(readAll(t, s)); n != 6 {
		t.Errorf("%d events after reopen, want 6", n)
	}
	db = dbT(t, s)
	if n := countT(t, db, "SELECT sum(total) FROM balances"); n != 6 {
		t.Errorf("balances sum to %d after reopen, want 6", n)
	}
}

// TestDBMemory checks that DB of an in-memory store is that store's
// database, and no other's.
func TestDBMemory(t *testing.T) {
	s1 := openT(t, "", nil)
	s2 := openT(t, "", nil)
	db1, db2 := dbT(t, s1), dbT(t, s2)
	appendN(t, s1, "a", 2)
	// The store's tables are there, with its events.
	if n := countT(t, db1, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"); n == 0 {
		t.Fatal("no tables in the in-memory store's database")
	}
	execT(t, db1, "CREATE TABLE mine (x INTEGER); INSERT INTO mine VALUES (1)")
	if n := countT(t, db1, "SELECT count(*) FROM mine"); n != 1 {
		t.Errorf("%d rows", n)
	}
	if _, err := db2.ExecContext(t.Context(), "SELECT * FROM mine"); err == nil {
		t.Error("another in-memory store sees the first one's table")
	}
}

// TestDBOtherBackend checks that sqlite.DB refuses a store that does not
// run on SQLite.
func TestDBOtherBackend(t *testing.T) {
	s, err := memback.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := sqlite.DB(s); !errors.Is(err, chronicle.ErrInvalid) {
		t.Errorf("DB of a store on another backend: %v, want ErrInvalid", err)
	}
	if _, err := sqlite.DB(nil); !errors.Is(err, chronicle.ErrInvalid) {
		t.Errorf("DB(nil): %v, want ErrInvalid", err)
	}
}

// TestDBInterleaved reads rows of one query while the same transaction
// runs other statements and queries, through ad hoc and prepared
// statements.
func TestDBInterleaved(t *testing.T) {
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "events.db"), nil)
	db := dbT(t, s)
	execT(t, db, "CREATE TABLE src (x INTEGER); CREATE TABLE dst (x INTEGER, twice INTEGER)")
	for i := range 100 {
		execT(t, db, "INSERT INTO src VALUES (?)", i)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, "INSERT INTO dst VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT x FROM src ORDER BY x")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var x int64
		if err := rows.Scan(&x); err != nil {
			t.Fatal(err)
		}
		var twice int64
		if err := tx.QueryRowContext(ctx, "SELECT ? * 2", x).Scan(&twice); err != nil {
			t.Fatal(err)
		}
		if _, err := ins.ExecContext(ctx, x, twice); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countT(t, db, "SELECT count(*) FROM dst WHERE twice = 2 * x"); n != 100 {
		t.Errorf("%d rows copied, want 100", n)
	}
}

// TestDBLeftTransaction checks that a connection given back to the pool
// inside a transaction begun by hand is closed, which rolls the transaction
// back, instead of holding the write lock that the store's appends need.
func TestDBLeftTransaction(t *testing.T) {
	ctx := t.Context()
	s := openT(t, filepath.Join(t.TempDir(), "events.db"), &sqlite.Options{BusyTimeout: 2 * time.Second})
	db := dbT(t, s)
	execT(t, db, "CREATE TABLE rm (x INTEGER)")
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	execT(t, conn, "BEGIN IMMEDIATE")
	execT(t, conn, "INSERT INTO rm VALUES (1)")
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	appendN(t, s, "s", 1)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Append waited %v for a transaction left open", d)
	}
	if n := countT(t, db, "SELECT count(*) FROM rm"); n != 0 {
		t.Errorf("the abandoned transaction's row is there (%d rows)", n)
	}
}

// TestDBStatementReuse runs the same queries many times on one connection,
// also with two rows of one query open at once and across a schema change,
// which the connection's statement cache must all survive.
func TestDBStatementReuse(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "reuse.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := dbT(t, s)
	db.SetMaxOpenConns(1) // one connection: every call meets the cache
	execT(t, db, "CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)")
	for i := range 200 {
		execT(t, db, "INSERT INTO kv (k, v) VALUES (?, ?)", i, fmt.Sprint("v", i))
		if got := countT(t, db, "SELECT count(*) FROM kv WHERE k <= ?", i); got != int64(i+1) {
			t.Fatalf("after insert %d: count %d", i, got)
		}
	}
	// Two open rows of the same query on one connection (a transaction
	// pins it): the second cannot share the first's compiled statement.
	const q = "SELECT k FROM kv WHERE k < ? ORDER BY k"
	tx, err := db.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := tx.QueryContext(t.Context(), q, 3)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := tx.QueryContext(t.Context(), q, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, r := range []*sql.Rows{r1, r2, r1, r2, r1, r2} {
		if !r.Next() {
			continue
		}
		var k int
		if err := r.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got = append(got, k)
	}
	for _, r := range []*sql.Rows{r1, r2} {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0 0 1 1 2]" {
		t.Fatalf("interleaved rows %v", got)
	}
	// A prepared statement and the same query by text, interleaved.
	st, err := db.PrepareContext(t.Context(), "SELECT v FROM kv WHERE k = ?")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		var a, b string
		if err := st.QueryRowContext(t.Context(), i).Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(t.Context(), "SELECT v FROM kv WHERE k = ?", i+1).Scan(&b); err != nil {
			t.Fatal(err)
		}
		if a != fmt.Sprint("v", i) || b != fmt.Sprint("v", i+1) {
			t.Fatalf("got %q, %q", a, b)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// A schema change under a cached statement.
	execT(t, db, "ALTER TABLE kv ADD COLUMN w TEXT DEFAULT 'x'")
	var cols []string
	rows, err := db.QueryContext(t.Context(), "SELECT * FROM kv WHERE k = ?", 1)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ = rows.Columns()
	_ = rows.Close()
	if len(cols) != 3 {
		t.Fatalf("columns after ALTER TABLE: %v", cols)
	}
}

// TestDBWriteTransactionsTakeTurns runs write transactions from many
// goroutines: they wait for each other in the process and all commit, a
// waiter whose context ends gives up, and the store's appends go on.
func TestDBWriteTransactionsTakeTurns(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "turns.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := dbT(t, s)
	execT(t, db, "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
	execT(t, db, "INSERT INTO counter VALUES (1, 0)")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for range 25 {
				tx, err := db.BeginTx(t.Context(), nil)
				if err != nil {
					errs <- err
					return
				}
				var n int
				if err := tx.QueryRowContext(t.Context(), "SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil {
					_ = tx.Rollback()
					errs <- err
					return
				}
				if _, err := tx.ExecContext(t.Context(), "UPDATE counter SET n = ? WHERE id = 1", n+1); err != nil {
					_ = tx.Rollback()
					errs <- err
					return
				}
				if err := tx.Commit(); err != nil {
					errs <- err
					return
				}
			}
			if _, err := s.Append(t.Context(), fmt.Sprint("g-", g), chronicle.Any, chronicle.EventData{Type: "Done"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := countT(t, db, "SELECT n FROM counter WHERE id = 1"); n != 200 {
		t.Fatalf("counter %d, want 200: a read-modify-write was lost", n)
	}
	// A transaction waiting for the turn gives up when its context ends.
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := db.BeginTx(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("BeginTx while another write transaction runs, with a short context: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	tx, err = db.BeginTx(t.Context(), nil) // the turn came back
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}
