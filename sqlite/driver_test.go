package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testEngines are the engines of this build; engine_cgo_test.go adds the
// native one.
var testEngines = map[string]engine{"wasm": wasmEngine{}}

// forEngines runs f on a fresh file database per engine.
func forEngines(t *testing.T, f func(t *testing.T, c dbConn)) {
	for name, e := range testEngines {
		t.Run(name, func(t *testing.T) {
			c, err := e.open(filepath.Join(t.TempDir(), "d.db"), openReadWrite)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := c.Close(); err != nil {
					t.Error(err)
				}
				if err := c.Close(); err != nil { // twice is harmless
					t.Error(err)
				}
			})
			if err := c.Exec("CREATE TABLE t (i INTEGER, s TEXT, b BLOB, f REAL); CREATE UNIQUE INDEX t_i ON t (i)"); err != nil {
				t.Fatal(err)
			}
			f(t, c)
		})
	}
}

func prepT(t *testing.T, c dbConn, q string) dbStmt {
	t.Helper()
	st, err := c.Prepare(q)
	if err != nil {
		t.Fatalf("Prepare(%q): %v", q, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestDriverRoundTrip(t *testing.T) {
	forEngines(t, func(t *testing.T, c dbConn) {
		ins := prepT(t, c, "INSERT INTO t (i, s, b, f) VALUES (?, ?, ?, ?)")
		big := bytes.Repeat([]byte("x"), 3<<20) // past the read-ahead limits
		rows := []struct {
			i    int64
			s    any // string, []byte (raw text) or nil
			b    []byte
			null bool // b is NULL
		}{
			{1, "one", []byte{1, 2, 3}, false},
			{2, "", []byte{}, false},
			{3, nil, nil, true},
			{4, []byte("raw"), big, false},
			{-1 << 62, "ünïcode", []byte{0}, false},
		}
		for _, r := range rows {
			check := func(err error) {
				if err != nil {
					t.Fatalf("row %d: %v", r.i, err)
				}
			}
			check(ins.BindInt64(1, r.i))
			switch v := r.s.(type) {
			case string:
				check(ins.BindText(2, v))
			case []byte:
				check(ins.BindRawText(2, v))
			default:
				check(ins.BindNull(2))
			}
			if r.null {
				check(ins.BindNull(3))
			} else {
				check(ins.BindBlob(3, r.b))
			}
			check(ins.BindFloat(4, 1.5))
			check(ins.Exec())
			check(ins.ClearBindings())
		}
		if err := ins.BindBool(5, true); err == nil {
			t.Error("binding parameter 5 of 4: no error")
		}

		sel := prepT(t, c, "SELECT i, s, b, typeof(s), typeof(b) FROM t ORDER BY rowid")
		for _, r := range rows {
			if !sel.Step() {
				t.Fatalf("row %d missing: %v", r.i, sel.Err())
			}
			if got := sel.ColumnInt64(0); got != r.i {
				t.Errorf("i = %d, want %d", got, r.i)
			}
			want := ""
			switch v := r.s.(type) {
			case string:
				want = v
			case []byte:
				want = string(v)
			}
			if got := sel.ColumnText(1); got != want {
				t.Errorf("row %d: s = %q, want %q", r.i, got, want)
			}
			if (sel.ColumnRawText(1) == nil) != (r.s == nil) {
				t.Errorf("row %d: NULL text read as %v", r.i, sel.ColumnRawText(1))
			}
			if got := sel.ColumnRawBlob(2); !bytes.Equal(got, r.b) {
				t.Errorf("row %d: blob of %d bytes, want %d", r.i, len(got), len(r.b))
			}
			if got := sel.ColumnBlob(2, []byte("junk")); !bytes.Equal(got, append([]byte("junk"), r.b...)) {
				t.Errorf("row %d: ColumnBlob = %d bytes, want 4 + %d appended", r.i, len(got), len(r.b))
			}
			types := map[bool]string{true: "null", false: "text"}
			if got, want := sel.ColumnText(3), types[r.s == nil]; got != want {
				t.Errorf("row %d: typeof(s) = %s, want %s", r.i, got, want)
			}
			types[false] = "blob"
			if got, want := sel.ColumnText(4), types[r.null]; got != want {
				t.Errorf("row %d: typeof(b) = %s, want %s", r.i, got, want)
			}
		}
		if sel.Step() || sel.Err() != nil {
			t.Fatalf("after the last row: Step true or error %v", sel.Err())
		}
		if err := sel.Reset(); err != nil {
			t.Fatal(err)
		}
		if !sel.Step() || sel.ColumnInt64(0) != 1 {
			t.Error("a reset statement does not start over")
		}
	})
}

// TestDriverManyRows reads more rows than one read-ahead holds, stops
// halfway and starts over.
func TestDriverManyRows(t *testing.T) {
	forEngines(t, func(t *testing.T, c dbConn) {
		if err := c.Exec("BEGIN"); err != nil {
			t.Fatal(err)
		}
		ins := prepT(t, c, "INSERT INTO t (i, s) VALUES (?, ?)")
		const n = 1000
		for i := range int64(n) {
			if err := ins.BindInt64(1, i); err != nil {
				t.Fatal(err)
			}
			if err := ins.BindText(2, fmt.Sprint("row ", i)); err != nil {
				t.Fatal(err)
			}
			if err := ins.Exec(); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Exec("COMMIT"); err != nil {
			t.Fatal(err)
		}
		sel := prepT(t, c, "SELECT i, s FROM t WHERE i >= ? ORDER BY i")
		for _, from := range []int64{0, 500, 999, n} {
			if err := sel.BindInt64(1, from); err != nil {
				t.Fatal(err)
			}
			want := from
			for sel.Step() {
				if got, s := sel.ColumnInt64(0), sel.ColumnText(1); got != want || s != fmt.Sprint("row ", want) {
					t.Fatalf("from %d: row (%d, %q), want %d", from, got, s, want)
				}
				want++
				if from == 0 && want == 100 {
					break // stop early: Reset must still start over
				}
			}
			if err := sel.Err(); err != nil {
				t.Fatal(err)
			}
			if from != 0 && want != n {
				t.Fatalf("from %d: stopped at %d", from, want)
			}
			if err := sel.Reset(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestDriverErrors(t *testing.T) {
	forEngines(t, func(t *testing.T, c dbConn) {
		if _, err := c.Prepare("SELEKT 1"); err == nil {
			t.Error("Prepare of bad SQL: no error")
		}
		if err := c.Exec("INSERT INTO t (i) VALUES (1); INSERT INTO t (i) VALUES (1)"); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
			t.Errorf("duplicate key: %v", err)
		}
		if !c.GetAutocommit() {
			t.Error("a transaction is open after autocommit statements")
		}
		if err := c.Exec("BEGIN IMMEDIATE"); err != nil {
			t.Fatal(err)
		}
		if c.GetAutocommit() {
			t.Error("no transaction after BEGIN")
		}
		if err := c.Exec("ROLLBACK"); err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		c.SetInterrupt(ctx)
		err := c.Exec("SELECT 1")
		if code := errCode(err); code != codeInterrupt {
			t.Errorf("Exec under a cancelled context: %v (code %d), want an interrupt", err, code)
		}
		c.SetInterrupt(context.Background())
		if err := c.Exec("SELECT 1"); err != nil {
			t.Errorf("after clearing the interrupt: %v", err)
		}
	})
}

// TestDriverInterruptRunning interrupts a statement while it runs.
func TestDriverInterruptRunning(t *testing.T) {
	forEngines(t, func(t *testing.T, c dbConn) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		c.SetInterrupt(ctx)
		defer c.SetInterrupt(context.Background())
		st := prepT(t, c, "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n")
		start := time.Now()
		for st.Step() {
		}
		if code := errCode(st.Err()); code != codeInterrupt {
			t.Errorf("endless query ended with %v (code %d), want an interrupt", st.Err(), code)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("interrupt took %v", d)
		}
	})
}

func TestLibVersion(t *testing.T) {
	v, err := LibVersion()
	if err != nil || !strings.HasPrefix(v, "3.") {
		t.Fatalf("LibVersion() = %q, %v", v, err)
	}
}
