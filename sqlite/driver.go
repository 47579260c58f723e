package sqlite

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/mvcc" // private in-memory databases
)

// The package talks to SQLite through the small interfaces below, so that one
// build can run on the pure-Go engine (github.com/ncruces/go-sqlite3, the
// default) and another on native SQLite through cgo (build tag
// chronicle_cgo). Their method sets follow the C API one to one.

// dbConn is one SQLite connection.
type dbConn interface {
	// Prepare compiles one persistent statement.
	Prepare(query string) (dbStmt, error)
	// PrepareOne compiles the first statement of query for a single use
	// (not persistent, stepped one row at a time) and returns the text
	// after it. st and err are both nil when query holds no statement.
	PrepareOne(query string) (st dbStmt, tail string, err error)
	// Changes is the number of rows that the most recent INSERT, UPDATE or
	// DELETE changed.
	Changes() int64
	// LastInsertRowID is the rowid of the most recent successful INSERT.
	LastInsertRowID() int64
	// Exec runs one or more statements that return no rows.
	Exec(sql string) error
	// SetInterrupt makes running and later calls fail with an interrupt
	// once ctx is done, until the next SetInterrupt.
	SetInterrupt(ctx context.Context)
	// GetAutocommit reports whether no transaction is open.
	GetAutocommit() bool
	// NoCheckpointOnClose sets SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE.
	NoCheckpointOnClose(on bool) error
	// BusyTimeout sets how long a call waits for another connection's lock.
	BusyTimeout(d time.Duration) error
	// HookWAL turns SQLite's automatic checkpoints off on the connection
	// and counts instead: after each of its commits, WALPages tells the
	// size of the WAL.
	HookWAL()
	// WALPages returns the number of pages in the WAL after the
	// connection's last commit since the previous call, or 0 when it has
	// not committed since (or HookWAL was not called).
	WALPages() int
	Close() error
}

// dbStmt is one prepared statement. The []byte that ColumnRawText and
// ColumnRawBlob return are valid until the next Step, Reset or Close;
// ColumnBlob appends the column to buf. ColumnType is the type of a column
// of the current row.
type dbStmt interface {
	BindCount() int
	BindIndex(name string) int
	BindName(param int) string
	BindNull(param int) error
	BindInt64(param int, value int64) error
	BindFloat(param int, value float64) error
	BindBool(param int, value bool) error
	BindText(param int, value string) error
	BindRawText(param int, value []byte) error
	BindBlob(param int, value []byte) error

	Step() bool
	Err() error
	Exec() error

	ColumnCount() int
	ColumnName(col int) string
	ColumnDeclType(col int) string
	ColumnType(col int) sqlite3.Datatype
	ColumnInt64(col int) int64
	ColumnFloat(col int) float64
	ColumnText(col int) string
	ColumnRawText(col int) []byte
	ColumnRawBlob(col int) []byte
	ColumnBlob(col int, buf []byte) []byte

	Reset() error
	ClearBindings() error
	Close() error
}

// openMode is how a connection opens its database.
type openMode int

const (
	openReadOnly openMode = iota
	openReadWrite
)

// engine opens connections to one SQLite implementation.
type engine interface {
	open(uri string, mode openMode) (dbConn, error)
}

// errCode is the primary SQLite result code of err, or 0 when err did not
// come from SQLite.
func errCode(err error) int {
	var e *sqlite3.Error
	if errors.As(err, &e) {
		return int(e.Code())
	}
	var code sqlite3.ErrorCode
	if errors.As(err, &code) {
		return int(code)
	}
	var xcode sqlite3.ExtendedErrorCode
	if errors.As(err, &xcode) {
		return int(xcode) & 0xff
	}
	var c *cError
	if errors.As(err, &c) {
		return c.code & 0xff
	}
	return 0
}

// Primary SQLite result codes that the package tells apart.
const (
	codeBusy      = 5
	codeLocked    = 6
	codeReadOnly  = 8
	codeInterrupt = 9
	codeFull      = 13
	codeNotADB    = 26
)

// cError is an error from the native engine.
type cError struct {
	code  int // extended result code
	msg   string
	errno syscall.Errno // the OS error behind it, or 0
}

func (e *cError) Error() string { return "sqlite3: " + e.msg }

// Unwrap returns the OS error behind e, so that errors.Is sees, say,
// syscall.EROFS.
func (e *cError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// wasmEngine is github.com/ncruces/go-sqlite3: SQLite compiled to Go, no
// cgo. It serves every in-memory store (through its mvcc VFS) and, without
// the chronicle_cgo build tag, files too.
type wasmEngine struct{}

// wasmWriteMemory is the memory of the wasm engine's connections that
// write: address space reserved up front, used as it is needed (and kept:
// the engine's memory never shrinks). The engine's default, 256 MiB, which
// read-only connections keep, does not hold writes of events near 64 MiB
// reliably: a value is in memory twice while it is written, and the heap
// fragments over time.
const wasmWriteMemory = 1 << 30

func (wasmEngine) open(uri string, mode openMode) (dbConn, error) {
	var c *sqlite3.Conn
	var err error
	if mode == openReadWrite {
		// OpenContext opens with OPEN_READWRITE, OPEN_CREATE and OPEN_URI.
		c, err = sqlite3.OpenContext(sqlite3.WithMaxMemory(context.Background(), wasmWriteMemory), uri)
	} else {
		c, err = sqlite3.OpenFlags(uri, sqlite3.OPEN_READONLY|sqlite3.OPEN_URI)
	}
	if err != nil {
		return nil, err
	}
	return wasmConn{Conn: c, wal: new(int)}, nil
}

type wasmConn struct {
	*sqlite3.Conn
	wal *int // the WAL's size after the last commit, set by the WAL hook
}

var _ dbStmt = (*wasmStmt)(nil)

func (c wasmConn) Prepare(query string) (_ dbStmt, err error) {
	defer recoverOOM(&err)
	st, _, err := c.PrepareFlags(query, sqlite3.PREPARE_PERSISTENT)
	if err != nil {
		return nil, err
	}
	return &wasmStmt{Stmt: st}, nil
}

func (c wasmConn) PrepareOne(query string) (_ dbStmt, tail string, err error) {
	defer recoverOOM(&err)
	st, tail, err := c.PrepareFlags(query, 0)
	if st == nil {
		return nil, tail, err
	}
	return &wasmStmt{Stmt: st}, tail, err
}

func (c wasmConn) Exec(query string) (err error) {
	defer recoverOOM(&err)
	return c.Conn.Exec(query)
}

// wasmStmt is a statement of the wasm engine. The engine panics when SQLite
// runs out of memory (each connection has a fixed amount, see
// wasmWriteMemory; a value is in it twice while it is written): here
// binds, steps and execs return an error instead, and the connection goes
// on (wasmConn's Prepare and Exec do the same). A bind that does not fit
// fails with chronicle.ErrInvalid.
type wasmStmt struct {
	*sqlite3.Stmt
	oom error // set by a Step that ran out of memory, until Reset
}

func (s *wasmStmt) BindText(param int, value string) (err error) {
	defer bindOOM(&err, len(value))
	return s.Stmt.BindText(param, value)
}

func (s *wasmStmt) BindRawText(param int, value []byte) (err error) {
	defer bindOOM(&err, len(value))
	return s.Stmt.BindRawText(param, value)
}

func (s *wasmStmt) BindBlob(param int, value []byte) (err error) {
	defer bindOOM(&err, len(value))
	return s.Stmt.BindBlob(param, value)
}

func (s *wasmStmt) Step() (row bool) {
	s.oom = nil
	defer recoverOOM(&s.oom) // row stays false after a panic
	return s.Stmt.Step()
}

func (s *wasmStmt) Err() error {
	if s.oom != nil {
		return s.oom
	}
	return s.Stmt.Err()
}

func (s *wasmStmt) Exec() (err error) {
	defer recoverOOM(&err)
	return s.Stmt.Exec()
}

// Reset and Close return the last step's error, and so panic after one
// that ran out of memory.
func (s *wasmStmt) Reset() (err error) {
	s.oom = nil
	defer recoverOOM(&err)
	return s.Stmt.Reset()
}

func (s *wasmStmt) Close() (err error) {
	defer recoverOOM(&err)
	return s.Stmt.Close()
}

// errOutOfMemory is what a statement of the wasm engine that ran out of
// memory returns.
var errOutOfMemory = errors.New("sqlite: out of memory: a connection of the default SQLite engine holds at most " +
	"1 GiB (256 MiB for reads); larger values need the chronicle_cgo build")

// recoverOOM, deferred, recovers the wasm engine's out-of-memory panic
// into *err; other panics go on.
func recoverOOM(err *error) {
	if r := recover(); r != nil {
		mustOOM(r)
		*err = errOutOfMemory
	}
}

// mustOOM panics again with r unless it is the wasm engine's out-of-memory
// panic.
func mustOOM(r any) {
	if e, ok := r.(error); !ok || e.Error() != "sqlite3: out of memory" {
		panic(r)
	}
}

// bindOOM, deferred, is recoverOOM for binding a value of n bytes: the
// error matches chronicle.ErrInvalid.
func bindOOM(err *error, n int) {
	r := recover()
	if r == nil {
		return
	}
	mustOOM(r)
	*err = &chronicle.ValidationError{Field: "value", Reason: fmt.Sprintf(
		"a value of %d bytes, with those bound before it, does not fit in the memory of a connection of the default "+
			"SQLite engine; write smaller values, or build with the chronicle_cgo tag", n)}
}

func (c wasmConn) SetInterrupt(ctx context.Context) { c.Conn.SetInterrupt(ctx) }

func (c wasmConn) HookWAL() {
	c.WALHook(func(_ *sqlite3.Conn, _ string, pages int) error {
		*c.wal = pages
		return nil
	})
}

func (c wasmConn) WALPages() int {
	n := *c.wal
	*c.wal = 0
	return n
}

func (c wasmConn) NoCheckpointOnClose(on bool) error {
	_, err := c.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, on)
	return err
}

// LibVersion returns the version of the SQLite library that stores in files
// run on in this build (see [Engine]).
func LibVersion() (string, error) {
	c, err := fileEngine().open(":memory:", openReadWrite)
	if err != nil {
		return "", err
	}
	defer c.Close()
	st, err := c.Prepare("SELECT sqlite_version()")
	if err != nil {
		return "", err
	}
	defer st.Close()
	if !st.Step() {
		if err := st.Err(); err != nil {
			return "", err
		}
		return "", errors.New("sqlite: sqlite_version() returned no row")
	}
	return st.ColumnText(0), nil
}
