package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"github.com/chronicle-go/chronicle"
)

// DB returns a database/sql handle on the SQLite database of store, which
// must run on this package's backend (see [Backend.DB]). It fails with an
// error matching [chronicle.ErrInvalid] for a store of another backend.
func DB(store *chronicle.Store) (*sql.DB, error) {
	if store == nil {
		return nil, fmt.Errorf("sqlite: %w: nil store", chronicle.ErrInvalid)
	}
	b, ok := store.Backend().(*Backend)
	if !ok {
		return nil, fmt.Errorf("sqlite: %w: the store runs on %T, not on SQLite", chronicle.ErrInvalid, store.Backend())
	}
	return b.DB(), nil
}

// DB returns a database/sql handle on the store's own database: the same
// file, or the same in-memory database for an in-memory store, through the
// same SQLite engine as the store (in one process, a file must be used
// through one engine only). Applications keep their own tables there, such
// as read models, and update them with database/sql and the tools built on
// it, in the same transactions as their projections' checkpoints. Names
// starting with chronicle_ are Chronicle's (the store's and its packages'):
// an application may read those tables but must not write them.
//
// The handle is opened on the first call and owned by the backend: do not
// close it; closing the store closes it, after the store's own connections.
// No driver name is registered with database/sql.
//
// Its connections read and write, with the store's busy timeout, page cache
// size and synchronous setting, and foreign_keys on. A transaction begun
// with ReadOnly set in [sql.TxOptions] runs BEGIN and refuses writes (PRAGMA
// query_only); any other runs BEGIN IMMEDIATE, taking the file's write lock
// at once, so that a transaction that reads and then writes never fails
// with SQLITE_BUSY at its first write: it waits up to the busy timeout for
// the store's writer and other processes instead. The handle's write
// transactions take turns within the process, queueing in Go rather than
// sleeping in SQLite's busy handler. Connections keep their compiled
// statements, so a query run again on a connection is parsed once. Appends of the store wait
// for such a transaction in turn, so keep write transactions short: an
// append that waits longer than the busy timeout fails with
// [chronicle.ErrBusy]. Every isolation level up to sql.LevelSerializable is
// accepted; SQLite transactions are serializable. A context that ends
// interrupts the statement it was given to.
//
// Parameters are ?, ?NNN, $NNN, :name, @name and $name. Positional
// arguments bind in order (the n-th to $n when the statement uses $NNN);
// [sql.Named] arguments bind to the parameter of that name with any of the
// three prefixes. int64, float64, bool (0 or 1), string, []byte (nil binds
// NULL), nil and time.Time bind as such; a time.Time binds as text in
// RFC 3339 with nine fractional digits in UTC ("2006-01-02T15:04:05.000000000Z"),
// which sorts in time order and parses with time.RFC3339Nano. Columns read
// as int64, float64, string, []byte or nil, by the type of each value.
// Exec without arguments runs any number of statements (a schema script,
// say); every other call takes one statement. A Result's LastInsertId and
// RowsAffected are those of the connection after the call
// (sqlite3_last_insert_rowid and sqlite3_changes).
func (b *Backend) DB() *sql.DB {
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	if b.db == nil {
		b.db = sql.OpenDB(connector{b})
		// Opening a connection costs a schema parse: keep those that
		// concurrent callers (a projection runner's goroutines, say)
		// use, not database/sql's default of two, and let idle ones go.
		b.db.SetMaxIdleConns(dbIdleConns)
		b.db.SetConnMaxIdleTime(dbIdleTime)
		if b.dbClosed {
			_ = b.db.Close()
		}
	}
	return b.db
}

// closeDB closes the handle of DB, if any; connections it opens afterwards
// fail.
func (b *Backend) closeDB() error {
	b.dbMu.Lock()
	b.dbClosed = true
	db := b.db
	b.dbMu.Unlock()
	if db == nil {
		return nil
	}
	return db.Close()
}

// connector opens the connections of [Backend.DB].
type connector struct{ b *Backend }

func (cn connector) Connect(ctx context.Context) (driver.Conn, error) {
	b := cn.b
	b.dbMu.Lock()
	closed := b.dbClosed
	b.dbMu.Unlock()
	if closed {
		return nil, fmt.Errorf("sqlite: %w", chronicle.ErrClosed)
	}
	if err := b.checkFile(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	c, err := b.connect(ctx, b.uri, openReadWrite)
	if err != nil {
		return nil, err
	}
	if err := c.c.Exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = " + b.opts.Synchronous.String() + ";"); err != nil {
		_ = c.close()
		return nil, fmt.Errorf("sqlite: configure %s: %w", b.path, sqlErr(ctx, err))
	}
	if b.ckpt != nil {
		c.c.HookWAL() // checkpoints run in the background
	}
	return &sqlConn{b: b, c: c, stmts: make(map[dbStmt]struct{}), cache: make(map[string]*cachedStmt)}, nil
}

func (connector) Driver() driver.Driver { return sqlDriver{} }

// sqlDriver is the driver of [Backend.DB]'s handle. It opens nothing by
// name: the connector does.
type sqlDriver struct{}

func (sqlDriver) Open(string) (driver.Conn, error) {
	return nil, errors.New("sqlite: the driver opens no database by name; use Backend.DB or sqlite.DB")
}

// sqlConn is one connection of [Backend.DB]. database/sql uses it from one
// goroutine at a time.
type sqlConn struct {
	b      *Backend
	c      *conn                  // BEGIN, COMMIT and ROLLBACK use its cache
	stmts  map[dbStmt]struct{}    // statements prepared through it and not cached, not closed yet
	cache  map[string]*cachedStmt // statements kept for the next call with the same query
	owner  *sqlRows               // the rows whose context is the interrupt, or nil
	ronly  bool                   // PRAGMA query_only is on, for a read-only transaction
	writer bool                   // a write transaction holds the backend's writer turn
	closed bool
}

// cachedStmt is a compiled statement that a connection keeps for the next
// call with the same query, so that a query run again and again (by a
// projection, say) is parsed once per connection.
type cachedStmt struct {
	st     dbStmt
	dollar bool
	busy   bool // taken by a call or open rows
}

// How many idle connections the DB handle keeps, and for how long.
const (
	dbIdleConns = 16
	dbIdleTime  = time.Minute
)

// maxCachedSQLStmts bounds each DB connection's statement cache.
const maxCachedSQLStmts = 64

// take returns a compiled statement for query: the cached one when it is
// free, else a new one (cached when the query has none yet). put gives it
// back: reset for the next call when cached, closed otherwise.
func (c *sqlConn) take(query string) (st dbStmt, dollar bool, put func() error, err error) {
	if cs, ok := c.cache[query]; ok && !cs.busy {
		cs.busy = true
		return cs.st, cs.dollar, cs.put, nil
	}
	st, err = c.prepare(query)
	if err != nil {
		return nil, false, nil, err
	}
	dollar = dollarParams(query, st)
	if _, ok := c.cache[query]; ok {
		c.stmts[st] = struct{}{}
		return st, dollar, func() error { delete(c.stmts, st); return st.Close() }, nil
	}
	if len(c.cache) >= maxCachedSQLStmts {
		for q, cs := range c.cache {
			if !cs.busy {
				_ = cs.st.Close()
				delete(c.cache, q)
			}
		}
	}
	cs := &cachedStmt{st: st, dollar: dollar, busy: true}
	c.cache[query] = cs
	return st, dollar, cs.put, nil
}

func (cs *cachedStmt) put() error {
	cs.busy = false
	err := cs.st.Reset()
	_ = cs.st.ClearBindings()
	return err
}

var (
	_ driver.Conn               = (*sqlConn)(nil)
	_ driver.ConnBeginTx        = (*sqlConn)(nil)
	_ driver.ConnPrepareContext = (*sqlConn)(nil)
	_ driver.ExecerContext      = (*sqlConn)(nil)
	_ driver.QueryerContext     = (*sqlConn)(nil)
	_ driver.Pinger             = (*sqlConn)(nil)
	_ driver.SessionResetter    = (*sqlConn)(nil)
	_ driver.Validator          = (*sqlConn)(nil)
)

// interrupt makes ctx interrupt the connection's calls until release.
func (c *sqlConn) interrupt(ctx context.Context) {
	c.owner = nil
	c.c.c.SetInterrupt(ctx)
}

// release ends the interrupt of the last call, and notes what a commit
// made of the WAL.
func (c *sqlConn) release() {
	c.owner = nil
	c.c.c.SetInterrupt(context.Background())
	c.b.committed(c.c)
}

func (c *sqlConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *sqlConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	c.interrupt(ctx)
	defer c.release()
	st, dollar, put, err := c.take(query)
	if err != nil {
		return nil, sqlErr(ctx, err)
	}
	return &sqlStmt{c: c, st: st, dollar: dollar, put: put}, nil
}

// prepare compiles query, which must hold exactly one statement.
func (c *sqlConn) prepare(query string) (dbStmt, error) {
	st, tail, err := c.c.c.PrepareOne(query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("sqlite: the query holds no SQL statement")
	}
	if strings.TrimSpace(tail) != "" {
		more, _, err := c.c.c.PrepareOne(tail)
		if more != nil {
			_ = more.Close()
		}
		if more != nil || err != nil {
			_ = st.Close()
			return nil, errors.New("sqlite: the query holds more than one statement; only Exec without arguments runs several")
		}
	}
	return st, nil
}

func (c *sqlConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	c.interrupt(ctx)
	defer c.release()
	if len(args) == 0 {
		if err := c.c.c.Exec(query); err != nil {
			return nil, sqlErr(ctx, err)
		}
		return c.result(), nil
	}
	st, dollar, put, err := c.take(query)
	if err != nil {
		return nil, sqlErr(ctx, err)
	}
	defer func() { _ = put() }()
	if err := bindArgs(st, dollar, args); err != nil {
		return nil, err
	}
	if err := st.Exec(); err != nil {
		return nil, sqlErr(ctx, err)
	}
	return c.result(), nil
}

func (c *sqlConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	c.interrupt(ctx)
	st, dollar, put, err := c.take(query)
	if err != nil {
		c.release()
		return nil, sqlErr(ctx, err)
	}
	if err := bindArgs(st, dollar, args); err != nil {
		_ = put()
		c.release()
		return nil, err
	}
	r := &sqlRows{c: c, st: st, ctx: ctx, put: put}
	c.owner = r
	return r, nil
}

func (c *sqlConn) result() driver.Result {
	return sqlResult{id: c.c.c.LastInsertRowID(), n: c.c.c.Changes()}
}

func (c *sqlConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *sqlConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.closed {
		return nil, driver.ErrBadConn
	}
	if level := sql.IsolationLevel(opts.Isolation); level > sql.LevelSerializable {
		return nil, fmt.Errorf("sqlite: isolation level %v is not supported (SQLite transactions are serializable)", level)
	}
	if !c.c.c.GetAutocommit() {
		return nil, errors.New("sqlite: a transaction is open on the connection already")
	}
	c.interrupt(ctx)
	defer c.release()
	begin := "BEGIN IMMEDIATE"
	if opts.ReadOnly {
		begin = "BEGIN"
	} else if err := c.beginWrite(ctx); err != nil {
		return nil, err
	}
	if err := c.c.exec(begin); err != nil {
		c.endWrite()
		return nil, sqlErr(ctx, err)
	}
	if opts.ReadOnly {
		if err := c.c.exec("PRAGMA query_only = ON"); err != nil {
			_ = c.c.exec("ROLLBACK")
			return nil, sqlErr(ctx, err)
		}
		c.ronly = true
	}
	return sqlTx{c}, nil
}

// end runs COMMIT or ROLLBACK, then lets the connection write again after
// a read-only transaction.
func (c *sqlConn) end(query string) error {
	if c.closed {
		return driver.ErrBadConn
	}
	c.release()
	var err error
	if query == "COMMIT" || !c.c.c.GetAutocommit() {
		err = c.c.exec(query)
	}
	c.b.committed(c.c)
	if c.c.c.GetAutocommit() {
		c.endWrite()
	}
	if c.ronly {
		if qerr := c.c.exec("PRAGMA query_only = OFF"); qerr == nil {
			c.ronly = false
		} else if err == nil {
			err = qerr
		}
	}
	return sqlErr(context.Background(), err)
}

func (c *sqlConn) Ping(context.Context) error {
	if c.closed {
		return driver.ErrBadConn
	}
	return nil
}

// ResetSession refuses a connection that a transaction is still open on
// (begun by an Exec of BEGIN, say), so that it is closed, which rolls the
// transaction back, rather than used again.
func (c *sqlConn) ResetSession(context.Context) error {
	if !c.IsValid() {
		return driver.ErrBadConn
	}
	c.release()
	return nil
}

// IsValid reports whether the connection is open, with no transaction and
// not read-only: one left in a transaction is not pooled, as it would hold
// the file's locks.
func (c *sqlConn) IsValid() bool {
	return !c.closed && !c.ronly && c.c.c.GetAutocommit()
}

func (c *sqlConn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	for st := range c.stmts {
		_ = st.Close()
	}
	clear(c.stmts)
	for _, cs := range c.cache {
		_ = cs.st.Close()
	}
	clear(c.cache)
	c.endWrite()
	return c.c.close()
}

// beginWrite waits for the backend's turn of write transactions: the write
// transactions of the DB handle take turns in the process, in Go, instead
// of each waiting for the file's write lock in SQLite's busy handler, which
// sleeps. It waits up to the busy timeout, like SQLite would.
func (c *sqlConn) beginWrite(ctx context.Context) error {
	t := time.NewTimer(c.b.opts.BusyTimeout)
	defer t.Stop()
	select {
	case c.b.sqlTurn <- struct{}{}:
		c.writer = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("sqlite: %w: another write transaction of the DB handle held the database for longer than the busy timeout (%v)",
			chronicle.ErrBusy, c.b.opts.BusyTimeout)
	}
}

// endWrite gives the turn back once the write transaction has ended.
func (c *sqlConn) endWrite() {
	if c.writer {
		c.writer = false
		<-c.b.sqlTurn
	}
}

// sqlTx is a transaction of [Backend.DB].
type sqlTx struct{ c *sqlConn }

func (t sqlTx) Commit() error   { return t.c.end("COMMIT") }
func (t sqlTx) Rollback() error { return t.c.end("ROLLBACK") }

// sqlResult is what an Exec of [Backend.DB] reports.
type sqlResult struct{ id, n int64 }

func (r sqlResult) LastInsertId() (int64, error) { return r.id, nil }
func (r sqlResult) RowsAffected() (int64, error) { return r.n, nil }

// sqlStmt is a statement prepared through [Backend.DB].
type sqlStmt struct {
	c      *sqlConn
	st     dbStmt
	dollar bool         // positional arguments bind to $1, $2, …
	put    func() error // gives st back to the connection
	rows   *sqlRows     // the open rows reading st, or nil
	closed bool
}

var (
	_ driver.Stmt             = (*sqlStmt)(nil)
	_ driver.StmtExecContext  = (*sqlStmt)(nil)
	_ driver.StmtQueryContext = (*sqlStmt)(nil)
)

func (s *sqlStmt) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.rows != nil {
		_ = s.rows.Close()
	}
	if s.c.closed {
		return nil // closing the connection closed the statement
	}
	return s.put()
}

// NumInput is the number of distinct parameters of the statement.
func (s *sqlStmt) NumInput() int { return s.st.BindCount() }

// use readies the statement for a call with args.
func (s *sqlStmt) use(args []driver.NamedValue) error {
	switch {
	case s.closed || s.c.closed:
		return driver.ErrBadConn
	case s.rows != nil:
		return errors.New("sqlite: the statement's rows from an earlier query are still open")
	}
	if err := s.st.ClearBindings(); err != nil {
		return err
	}
	return bindArgs(s.st, s.dollar, args)
}

func (s *sqlStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.use(args); err != nil {
		return nil, err
	}
	s.c.interrupt(ctx)
	defer s.c.release()
	if err := s.st.Exec(); err != nil {
		return nil, sqlErr(ctx, err)
	}
	return s.c.result(), nil
}

func (s *sqlStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.use(args); err != nil {
		return nil, err
	}
	s.c.interrupt(ctx)
	r := &sqlRows{c: s.c, st: s.st, ctx: ctx, stmt: s}
	s.rows = r
	s.c.owner = r
	return r, nil
}

func (s *sqlStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *sqlStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

// sqlRows are the rows of a query of [Backend.DB]. The statement steps one
// row per Next, under the query's context.
type sqlRows struct {
	c      *sqlConn
	st     dbStmt
	ctx    context.Context
	stmt   *sqlStmt     // the prepared statement st belongs to; nil when the rows own st
	put    func() error // gives st back to the connection, when the rows own it
	cols   []string
	done   bool // Step returned false
	failed bool // and reported an error
	closed bool
}

var (
	_ driver.Rows                           = (*sqlRows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*sqlRows)(nil)
)

func (r *sqlRows) Columns() []string {
	if r.cols == nil {
		r.cols = make([]string, r.st.ColumnCount())
		for i := range r.cols {
			r.cols[i] = r.st.ColumnName(i)
		}
	}
	return r.cols
}

// ColumnTypeDatabaseTypeName is the declared type of column i, upper case and
// without a length ("VARCHAR(20)" gives "VARCHAR"), or "" for an expression.
func (r *sqlRows) ColumnTypeDatabaseTypeName(i int) string {
	t, _, _ := strings.Cut(r.st.ColumnDeclType(i), "(")
	return strings.ToUpper(strings.TrimSpace(t))
}

func (r *sqlRows) Next(dest []driver.Value) error {
	switch {
	case r.c.closed:
		return driver.ErrBadConn
	case r.done || r.closed:
		return io.EOF
	}
	if r.c.owner != r {
		// Another call ran on the connection since: interrupt by this
		// query's context again.
		r.c.interrupt(r.ctx)
		r.c.owner = r
	}
	if !r.st.Step() {
		r.done = true
		if err := r.st.Err(); err != nil {
			r.failed = true
			return sqlErr(r.ctx, err)
		}
		return io.EOF
	}
	for i := range dest {
		switch r.st.ColumnType(i) {
		case sqlite3.INTEGER:
			dest[i] = r.st.ColumnInt64(i)
		case sqlite3.FLOAT:
			dest[i] = r.st.ColumnFloat(i)
		case sqlite3.TEXT:
			dest[i] = r.st.ColumnText(i)
		case sqlite3.BLOB:
			dest[i] = append([]byte{}, r.st.ColumnRawBlob(i)...)
		default:
			dest[i] = nil
		}
	}
	return nil
}

func (r *sqlRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.c.closed {
		return nil // closing the connection closed the statement
	}
	if r.c.owner == r {
		r.c.release()
	}
	var err error
	if r.stmt == nil {
		err = r.put()
	} else {
		r.stmt.rows = nil
		err = r.st.Reset()
	}
	if r.failed {
		return nil // Next reported it already
	}
	return sqlErr(r.ctx, err)
}

// bindArgs binds args to st: a positional argument to the next parameter
// (or to $n, with dollar), a named one to every parameter of its name.
func bindArgs(st dbStmt, dollar bool, args []driver.NamedValue) error {
	pos := 0
	for _, a := range args {
		if a.Name != "" {
			found := false
			for _, p := range [...]string{":", "@", "$"} {
				if i := st.BindIndex(p + a.Name); i > 0 {
					found = true
					if err := bindValue(st, i, a.Value); err != nil {
						return err
					}
				}
			}
			if !found {
				return fmt.Errorf("sqlite: the statement has no parameter named %q", a.Name)
			}
			continue
		}
		pos++
		i := pos
		if dollar {
			i = st.BindIndex("$" + strconv.Itoa(pos))
		}
		if i < 1 || i > st.BindCount() {
			return fmt.Errorf("sqlite: argument %d has no parameter in the statement (it has %d)", pos, st.BindCount())
		}
		if err := bindValue(st, i, a.Value); err != nil {
			return err
		}
	}
	return nil
}

// sqlTimeFormat is how a time.Time argument is stored: RFC 3339 in UTC with
// nine fractional digits, so that the text sorts in time order.
const sqlTimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func bindValue(st dbStmt, i int, v driver.Value) error {
	switch v := v.(type) {
	case nil:
		return st.BindNull(i)
	case int64:
		return st.BindInt64(i, v)
	case float64:
		return st.BindFloat(i, v)
	case bool:
		return st.BindBool(i, v)
	case string:
		return st.BindText(i, v)
	case []byte:
		if v == nil {
			return st.BindNull(i)
		}
		return st.BindBlob(i, v)
	case time.Time:
		return st.BindText(i, v.UTC().Format(sqlTimeFormat))
	}
	return fmt.Errorf("sqlite: cannot bind %T", v)
}

// dollarParams reports whether the statement numbers its parameters $1,
// $2, …: their indexes follow their first use, not their numbers.
func dollarParams(query string, st dbStmt) bool {
	if !strings.Contains(query, "$") {
		return false
	}
	for i := range st.BindCount() {
		name := st.BindName(i + 1)
		if len(name) > 1 && name[0] == '$' && strings.Trim(name[1:], "0123456789") == "" {
			return true
		}
	}
	return false
}

// sqlErr is err as database/sql callers see it: the context's error when
// ctx interrupted the call or its wait for a lock, and matching chronicle's
// errors where one applies, with the SQLite error still in the chain.
func sqlErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errCode(err) == codeBusy {
		return ctx.Err() // a busy wait gives up when interrupted
	}
	return interpret(ctx, err)
}
