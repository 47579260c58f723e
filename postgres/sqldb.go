package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// sqlDB is the backend's database/sql handle, opened on first use.
type sqlDB struct {
	once sync.Once
	db   *sql.DB
}

// DB returns a database/sql handle on the store's primary database, through
// the store's own connection pool (pgx's stdlib adapter), so that read
// models can be written with database/sql tools (sqlc, sqlx, …) in the
// same database, and in one transaction with a projection's checkpoint (see
// package projection). The handle is opened on first use and belongs to the
// backend: the Store's Close closes it; do not close it yourself.
func (b *Backend) DB() *sql.DB {
	b.sqldb.once.Do(func() { b.sqldb.db = stdlib.OpenDBFromPool(b.pool) })
	return b.sqldb.db
}

// DB returns the database/sql handle of a store opened by this package (see
// [Backend.DB]). It fails with an error matching [chronicle.ErrInvalid]
// when store runs on another backend.
func DB(store *chronicle.Store) (*sql.DB, error) {
	b, ok := store.Backend().(*Backend)
	if !ok {
		return nil, fmt.Errorf("postgres: %w: the store runs on %T, not on PostgreSQL", chronicle.ErrInvalid, store.Backend())
	}
	return b.DB(), nil
}

// SQLDialect names the SQL dialect of the store's database: "postgres".
// Package projection uses it.
func (b *Backend) SQLDialect() string { return "postgres" }

// SQLTable returns the name of one of Chronicle's tables, as written in SQL:
// qualified with the store's schema, e.g. "chronicle".projections.
func (b *Backend) SQLTable(name string) string {
	return pgx.Identifier{b.opts.Schema, name}.Sanitize()
}

func (b *Backend) closeDB() error {
	var err error
	b.sqldb.once.Do(func() {}) // no DB after Close starts
	if b.sqldb.db != nil {
		err = b.sqldb.db.Close()
	}
	return err
}

// ExecBatch runs queries, each with its arguments, in order as one
// transaction, in one round trip to the server (a pipeline; a query's text
// that the connection has not prepared yet costs one more, to prepare it):
// either all of them take effect or none does. The queries must not
// control the transaction (BEGIN, COMMIT, ROLLBACK): a COMMIT among them
// would commit the queries before it alone.
//
// On an error from the server about one query, failed is its index, or
// len(queries) when the error came after the last one (at commit: a
// deferred constraint, a serialization failure). On any other error
// (preparing a query, encoding its arguments, the connection), failed is
// -1; an error of the connection itself leaves the outcome unknown, as with
// any commit. Package projection uses it to apply an Exec handler's
// statements with the checkpoint.
func (b *Backend) ExecBatch(ctx context.Context, queries []string, args [][]any) (failed int, err error) {
	if len(queries) != len(args) {
		return -1, fmt.Errorf("postgres: %w: %d queries and %d argument lists", chronicle.ErrInvalid, len(queries), len(args))
	}
	batch := &pgx.Batch{}
	for i, q := range queries {
		batch.Queue(q, args[i]...)
	}
	// fail reports err at query i, or at -1 when the server did not say.
	fail := func(i int, err error) (int, error) {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			i = -1
		}
		return i, fmt.Errorf("postgres: %w", interpret(err))
	}
	br := b.pool.SendBatch(ctx, batch)
	for i := range queries {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fail(i, err)
		}
	}
	if err := br.Close(); err != nil {
		return fail(len(queries), err)
	}
	return len(queries), nil
}
