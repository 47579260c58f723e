package postgres

import (
	"database/sql"
	"fmt"
	"sync"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5"
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
