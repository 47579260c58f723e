package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
)

// TestExecBatch: ExecBatch runs its statements as one transaction: all of
// them, or, when one fails, none (the ones before it included), reporting
// which one failed; a mismatched argument list is refused.
func TestExecBatch(t *testing.T) {
	s := openT(t, nil)
	b := s.Backend().(*postgres.Backend)
	ctx := context.Background()
	tbl := b.SQLTable("batch_rows")
	if _, err := b.ExecBatch(ctx, []string{"CREATE TABLE " + tbl + " (k INT PRIMARY KEY, v INT NOT NULL)"}, [][]any{nil}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		var n int
		if err := b.DB().QueryRowContext(ctx, "SELECT count(*) FROM "+tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ins := "INSERT INTO " + tbl + " (k, v) VALUES ($1, $2)"
	for _, tc := range []struct {
		name   string
		args   [][]any
		failed int
		rows   int
	}{
		{"all applied", [][]any{{1, 10}, {2, 20}, {3, 30}}, 3, 3},
		{"the second fails", [][]any{{4, 40}, {5, nil}, {6, 60}}, 1, 3},
		{"the last fails", [][]any{{7, 70}, {8, 80}, {1, 10}}, 2, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			queries := make([]string, len(tc.args))
			for i := range queries {
				queries[i] = ins
			}
			failed, err := b.ExecBatch(ctx, queries, tc.args)
			if (err == nil) != (tc.failed == len(queries)) || failed != tc.failed {
				t.Fatalf("ExecBatch = %d, %v; want %d", failed, err, tc.failed)
			}
			if n := count(); n != tc.rows {
				t.Fatalf("%d rows, want %d", n, tc.rows)
			}
		})
	}
	if _, err := b.ExecBatch(ctx, []string{ins}, nil); !errors.Is(err, chronicle.ErrInvalid) {
		t.Fatalf("mismatched arguments: %v, want ErrInvalid", err)
	}
}
