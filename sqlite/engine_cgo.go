//go:build chronicle_cgo && cgo

package sqlite

// The native engine calls SQLite's C API directly, on the system's SQLite
// library (libsqlite3, found by the linker: on Debian and Ubuntu, the
// libsqlite3-dev package provides it and its header).
//
// Each call into C costs far more than a call in Go, so the hot paths cross
// once per row: Bind* only records the value (text and blobs are copied into
// a C buffer the statement owns), and Step binds everything that changed,
// steps, and fills an array with every column of the row in one call. No Go
// pointer is ever passed to C. Waits for another connection's lock use a
// busy handler of the engine's own (chr_busy) that, like the pure-Go
// engine's, retries often and gives up when the connection is interrupted.

/*
#cgo LDFLAGS: -lsqlite3

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

#if SQLITE_VERSION_NUMBER < 3037000
#error "the chronicle_cgo build needs SQLite 3.37 or later (sqlite3_changes64)"
#endif

// chr_arg is one bound parameter: typ is 0 for NULL, 1 for an integer, 2 for
// a float, 3 for text and 4 for a blob; text and blobs are n bytes at offset
// off of the statement's buffer.
typedef struct { int typ; int n; int64_t i; double f; int64_t off; } chr_arg;

// chr_col is one column of a fetched row: an integer (also for NULL and
// floats, converted), or n bytes of text or blob at offset off of the
// statement's row arena. For a float, off holds the bits of its value.
typedef struct { int typ; int n; int64_t i; int64_t off; } chr_col;

// chr_fetch binds the n arguments (when n >= 0), then steps up to max rows,
// copying each row's ncol columns into rows and their bytes into *arena
// (grown with realloc; *cap is its size). It stops early once limit bytes
// are in the arena. It returns the last step's result code (100 when it
// stopped with rows still to come) and the number of rows in *got.
static int chr_fetch(sqlite3_stmt *s, const chr_arg *a, int n, const char *buf,
		chr_col *rows, int ncol, int max, char **arena, int64_t *cap, int64_t limit, int *got) {
	for (int k = 0; k < n; k++) {
		int rc;
		switch (a[k].typ) {
		case 1: rc = sqlite3_bind_int64(s, k + 1, a[k].i); break;
		case 2: rc = sqlite3_bind_double(s, k + 1, a[k].f); break;
		case 3: rc = sqlite3_bind_text(s, k + 1, buf + a[k].off, a[k].n, (void (*)(void *))0); break;
		case 4: rc = sqlite3_bind_blob(s, k + 1, buf + a[k].off, a[k].n, (void (*)(void *))0); break;
		default: rc = sqlite3_bind_null(s, k + 1);
		}
		if (rc != 0) { *got = 0; return rc; }
	}
	int64_t used = 0;
	int rows_got = 0;
	int rc = 100;
	while (rows_got < max) {
		rc = sqlite3_step(s);
		if (rc != 100) break;
		chr_col *r = rows + (size_t)rows_got * ncol;
		for (int k = 0; k < ncol; k++) {
			chr_col *c = &r[k];
			c->typ = sqlite3_column_type(s, k);
			c->i = 0;
			c->n = 0;
			c->off = 0;
			if (c->typ == 3 || c->typ == 4) {
				const void *p = c->typ == 3 ? (const void *)sqlite3_column_text(s, k) : sqlite3_column_blob(s, k);
				int len = sqlite3_column_bytes(s, k);
				if (used + len > *cap) {
					int64_t size = *cap * 2;
					if (size < used + len) size = used + len;
					char *grown = realloc(*arena, (size_t)size);
					if (grown == 0) { *got = rows_got; return 7; } // SQLITE_NOMEM
					*arena = grown;
					*cap = size;
				}
				if (len > 0) memcpy(*arena + used, p, (size_t)len);
				c->n = len;
				c->off = used;
				used += len;
			} else {
				c->i = sqlite3_column_int64(s, k);
				if (c->typ == 2) {
					double f = sqlite3_column_double(s, k);
					memcpy(&c->off, &f, sizeof f);
				}
			}
		}
		rows_got++;
		if (used >= limit) break;
	}
	*got = rows_got;
	return rc;
}

// chr_busy is a connection's busy handler: it retries for timeout_ns after
// the first SQLITE_BUSY, every 0.1 ms at first and every ms after 2 ms, so
// that a waiter takes a lock that another connection releases between short
// transactions (SQLite's own handler sleeps up to 100 ms between tries and
// can starve). It gives up at once when the connection is interrupted. It
// also holds what the connection's WAL hook saw last (chr_wal_hook).
typedef struct { int64_t timeout_ns; int64_t start_ns; int stop; int wal; } chr_busy;

static int64_t chr_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int chr_busy_wait(void *arg, int count) {
	chr_busy *b = arg;
	if (b->timeout_ns <= 0 || __atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) return 0;
	int64_t now = chr_now();
	if (count == 0) b->start_ns = now;
	else if (now - b->start_ns >= b->timeout_ns) return 0;
	struct timespec d = {0, count < 20 ? 100000 : 1000000};
	nanosleep(&d, 0);
	return 1;
}

static int chr_busy_handler(sqlite3 *db, chr_busy *b) {
	return sqlite3_busy_handler(db, chr_busy_wait, b);
}

// chr_interrupt stops a busy wait and interrupts the connection's
// statement; chr_uninterrupt lets busy waits run again.
static void chr_interrupt(sqlite3 *db, chr_busy *b) {
	if (b) __atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
	sqlite3_interrupt(db);
}

static void chr_uninterrupt(chr_busy *b) {
	if (b) __atomic_store_n(&b->stop, 0, __ATOMIC_RELEASE);
}

static int chr_exec(sqlite3 *db, const char *sql) {
	return sqlite3_exec(db, sql, 0, 0, 0);
}

// chr_wal_hook replaces SQLite's automatic checkpoints: it only records the
// WAL's size in pages after each commit, for Go to read.
static int chr_wal_hook(void *arg, sqlite3 *db, const char *schema, int pages) {
	((chr_busy *)arg)->wal = pages;
	return 0;
}

static void chr_hook_wal(sqlite3 *db, chr_busy *b) {
	sqlite3_wal_hook(db, chr_wal_hook, b);
}

static int chr_no_ckpt_on_close(sqlite3 *db, int on) {
	return sqlite3_db_config(db, 1006, on, (int *)0); // SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE
}
*/
import "C"

import (
	"context"
	"math"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/ncruces/go-sqlite3"
)

// fileEngine is the engine for stores in files: with the chronicle_cgo build
// tag, native SQLite.
func fileEngine() engine { return cEngine{} }

// Engine names the SQLite implementation this build uses for stores in
// files: "wasm" (pure Go, the default) or "cgo" (native SQLite, with the
// chronicle_cgo build tag).
const Engine = "cgo"

// SQLite constants used below.
const (
	cOpenReadOnly   = 0x00000001
	cOpenReadWrite  = 0x00000002
	cOpenCreate     = 0x00000004
	cOpenURI        = 0x00000040
	cOpenNoMutex    = 0x00008000 // each connection is used by one goroutine at a time
	cPreparePersist = 0x01
	cRow            = 100
	cDone           = 101
	cNoMem          = 7
	cInterruptCode  = 9
	cTooBig         = 18
	cRange          = 25
	cColumnFloat    = 2
	cColumnText     = 3
	cColumnBlob     = 4
	cColumnNull     = 5
)

// Kinds of chr_arg.
const (
	cArgNull = iota
	cArgInt
	cArgFloat
	cArgText
	cArgBlob
)

type cEngine struct{}

func (cEngine) open(uri string, mode openMode) (dbConn, error) {
	flags := cOpenReadOnly | cOpenURI | cOpenNoMutex
	if mode == openReadWrite {
		flags = cOpenReadWrite | cOpenCreate | cOpenURI | cOpenNoMutex
	}
	curi := C.CString(uri)
	defer C.free(unsafe.Pointer(curi))
	var db *C.sqlite3
	if rc := C.sqlite3_open_v2(curi, &db, C.int(flags), nil); rc != 0 {
		err := &cError{code: int(rc), msg: C.GoString(C.sqlite3_errstr(rc))}
		if db != nil {
			err.msg = C.GoString(C.sqlite3_errmsg(db))
			err.errno = syscall.Errno(C.sqlite3_system_errno(db))
			C.sqlite3_close_v2(db)
		}
		return nil, err
	}
	C.sqlite3_extended_result_codes(db, 1)
	busy := (*C.chr_busy)(C.calloc(1, C.size_t(unsafe.Sizeof(C.chr_busy{}))))
	if busy == nil {
		C.sqlite3_close_v2(db)
		return nil, &cError{code: cNoMem, msg: "out of memory"}
	}
	C.chr_busy_handler(db, busy) // with no timeout until BusyTimeout
	return &cConn{db: db, busy: busy}, nil
}

// cConn is a native connection.
type cConn struct {
	db    *C.sqlite3
	busy  *C.chr_busy     // C memory: the busy handler's state
	ictx  context.Context // the interrupting context; nil when none
	stop  func() bool     // unregisters the interrupt
	fired chan struct{}   // closed once the interrupt has run
}

func (c *cConn) error(rc C.int) error {
	return &cError{code: int(rc), msg: C.GoString(C.sqlite3_errmsg(c.db)), errno: syscall.Errno(C.sqlite3_system_errno(c.db))}
}

// interrupted reports whether the interrupting context is already done;
// SQLite forgets an interrupt that arrives while no statement runs.
func (c *cConn) interrupted() error {
	if c.ictx != nil && c.ictx.Err() != nil {
		return &cError{code: cInterruptCode, msg: "interrupted"}
	}
	return nil
}

func (c *cConn) SetInterrupt(ctx context.Context) {
	if c.stop != nil {
		if !c.stop() {
			<-c.fired // the interrupt is running or ran: let it finish
			C.chr_uninterrupt(c.busy)
		}
		c.stop, c.fired = nil, nil
	}
	c.ictx = nil
	if ctx.Done() == nil {
		return
	}
	c.ictx = ctx
	fired := make(chan struct{})
	db, busy := c.db, c.busy
	c.fired = fired
	c.stop = context.AfterFunc(ctx, func() {
		C.chr_interrupt(db, busy)
		close(fired)
	})
}

func (c *cConn) GetAutocommit() bool { return C.sqlite3_get_autocommit(c.db) != 0 }

func (c *cConn) Exec(sql string) error {
	if err := c.interrupted(); err != nil {
		return err
	}
	csql := C.CString(sql)
	defer C.free(unsafe.Pointer(csql))
	if rc := C.chr_exec(c.db, csql); rc != 0 {
		return c.error(rc)
	}
	return nil
}

func (c *cConn) NoCheckpointOnClose(on bool) error {
	v := 0
	if on {
		v = 1
	}
	if rc := C.chr_no_ckpt_on_close(c.db, C.int(v)); rc != 0 {
		return c.error(rc)
	}
	return nil
}

func (c *cConn) HookWAL() {
	if c.db != nil {
		C.chr_hook_wal(c.db, c.busy)
	}
}

func (c *cConn) WALPages() int {
	if c.busy == nil {
		return 0
	}
	n := int(c.busy.wal)
	c.busy.wal = 0
	return n
}

// BusyTimeout sets how long the busy handler retries (see chr_busy).
func (c *cConn) BusyTimeout(d time.Duration) error {
	if c.db == nil {
		return &cError{code: 21, msg: "connection closed"}
	}
	c.busy.timeout_ns = C.int64_t(d.Nanoseconds())
	return nil
}

func (c *cConn) Close() error {
	c.SetInterrupt(context.Background())
	if c.db == nil {
		return nil
	}
	// A statement left unfinalized keeps the connection alive after
	// sqlite3_close_v2, and may still wait on the busy handler's state.
	keep := C.sqlite3_next_stmt(c.db, nil) != nil
	rc := C.sqlite3_close_v2(c.db)
	if rc != 0 {
		return c.error(rc)
	}
	c.db = nil
	if !keep {
		C.free(unsafe.Pointer(c.busy))
	}
	c.busy = nil
	return nil
}

func (c *cConn) Changes() int64 {
	if c.db == nil {
		return 0
	}
	return int64(C.sqlite3_changes64(c.db))
}

func (c *cConn) LastInsertRowID() int64 {
	if c.db == nil {
		return 0
	}
	return int64(C.sqlite3_last_insert_rowid(c.db))
}

func (c *cConn) Prepare(query string) (dbStmt, error) {
	st, _, err := c.prepare(query, cPreparePersist, true)
	if err != nil {
		return nil, err
	}
	if st == nil { // only whitespace or comments
		return nil, &cError{code: 21, msg: "empty statement"}
	}
	return st, nil
}

func (c *cConn) PrepareOne(query string) (dbStmt, string, error) {
	st, tail, err := c.prepare(query, 0, false)
	if st == nil {
		return nil, tail, err
	}
	return st, tail, err
}

// prepare compiles the first statement of query and returns the text after
// it; st is nil when query holds no statement. With readAhead, a statement
// that only reads fetches fetchRows rows per call into C; otherwise every
// Step fetches one row.
func (c *cConn) prepare(query string, flags C.uint, readAhead bool) (st *cStmt, tail string, err error) {
	if err := c.interrupted(); err != nil {
		return nil, "", err
	}
	cq := C.CString(query)
	defer C.free(unsafe.Pointer(cq))
	var s *C.sqlite3_stmt
	var ctail *C.char
	if rc := C.sqlite3_prepare_v3(c.db, cq, -1, flags, &s, &ctail); rc != 0 {
		return nil, "", c.error(rc)
	}
	if ctail != nil {
		tail = query[min(uintptr(unsafe.Pointer(ctail))-uintptr(unsafe.Pointer(cq)), uintptr(len(query))):]
	}
	if s == nil {
		return nil, tail, nil
	}
	st = &cStmt{c: c, s: s, dirty: true, ncol: int(C.sqlite3_column_count(s)), batch: 1, cur: -1}
	if readAhead && st.ncol > 0 && C.sqlite3_stmt_readonly(s) != 0 {
		st.batch = fetchRows // reading ahead cannot change anything
	}
	oom := func() (*cStmt, string, error) {
		_ = st.Close()
		return nil, "", &cError{code: cNoMem, msg: "out of memory"}
	}
	if n := int(C.sqlite3_bind_parameter_count(s)); n > 0 {
		if st.argp = (*C.chr_arg)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.chr_arg{})))); st.argp == nil {
			return oom()
		}
		st.args = unsafe.Slice(st.argp, n)
	}
	if st.ncol > 0 {
		n := st.ncol * st.batch
		if st.rowp = (*C.chr_col)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.chr_col{})))); st.rowp == nil {
			return oom()
		}
		st.rows = unsafe.Slice(st.rowp, n)
	}
	if err := st.grow(256); err != nil {
		_ = st.Close()
		return nil, "", err
	}
	return st, tail, nil
}

// cStmt is a native prepared statement. A read-only statement reads up to
// fetchRows rows ahead in one call into C, so that most Steps stay in Go.
type cStmt struct {
	c     *cConn
	s     *C.sqlite3_stmt
	argp  *C.chr_arg
	args  []C.chr_arg // C memory: the bindings for the next fetch
	buf   *C.char     // C memory: text and blob parameters
	data  []byte      // buf as a slice
	used  int         // bytes of buf in use
	dirty bool        // args changed since they were last bound

	ncol    int
	batch   int         // rows per fetch: fetchRows, or 1 for statements that write
	rowp    *C.chr_col  // C memory: batch rows of ncol columns
	rows    []C.chr_col // rowp as a slice
	arena   *C.char     // C memory: the fetched rows' text and blobs
	arenaN  C.int64_t   // arena's size
	fetched int         // rows in rows
	cur     int         // the current row, -1 before the first
	last    C.int       // the result code that ended the last fetch
	err     error       // the error to report once the fetched rows are read
}

// Reading ahead stops at fetchRows rows or once fetchBytes bytes of text and
// blobs are copied, whichever comes first; an arena grown past keepArena by
// a large row is freed at Reset.
const (
	fetchRows  = 64
	fetchBytes = 256 << 10
	keepArena  = 1 << 20
)

// grow makes room for n more bytes in buf.
func (s *cStmt) grow(n int) error {
	if s.used+n <= len(s.data) {
		return nil
	}
	size := max(2*len(s.data), s.used+n, 256)
	p := C.realloc(unsafe.Pointer(s.buf), C.size_t(size))
	if p == nil {
		return &cError{code: cNoMem, msg: "out of memory"}
	}
	s.buf = (*C.char)(p)
	s.data = unsafe.Slice((*byte)(p), size)
	return nil
}

func (s *cStmt) arg(param int) (*C.chr_arg, error) {
	if param < 1 || param > len(s.args) {
		return nil, &cError{code: cRange, msg: "parameter index " + strconv.Itoa(param) + " out of range"}
	}
	s.dirty = true
	return &s.args[param-1], nil
}

func (s *cStmt) BindNull(param int) error {
	a, err := s.arg(param)
	if err == nil {
		a.typ = cArgNull
	}
	return err
}

func (s *cStmt) BindInt64(param int, v int64) error {
	a, err := s.arg(param)
	if err == nil {
		a.typ, a.i = cArgInt, C.int64_t(v)
	}
	return err
}

func (s *cStmt) BindFloat(param int, v float64) error {
	a, err := s.arg(param)
	if err == nil {
		a.typ, a.f = cArgFloat, C.double(v)
	}
	return err
}

func (s *cStmt) BindBool(param int, v bool) error {
	var i int64
	if v {
		i = 1
	}
	return s.BindInt64(param, i)
}

func (s *cStmt) bindBytes(param, typ int, v []byte) error {
	a, err := s.arg(param)
	if err != nil {
		return err
	}
	if len(v) > math.MaxInt32 {
		return &cError{code: cTooBig, msg: "string or blob too big"}
	}
	if err := s.grow(len(v)); err != nil {
		return err
	}
	off := s.used
	s.used += copy(s.data[off:], v)
	a.typ, a.n, a.off = C.int(typ), C.int(len(v)), C.int64_t(off)
	return nil
}

func (s *cStmt) BindText(param int, v string) error {
	return s.bindBytes(param, cArgText, unsafe.Slice(unsafe.StringData(v), len(v)))
}

func (s *cStmt) BindRawText(param int, v []byte) error { return s.bindBytes(param, cArgText, v) }
func (s *cStmt) BindBlob(param int, v []byte) error    { return s.bindBytes(param, cArgBlob, v) }

func (s *cStmt) Step() bool {
	if s.cur+1 < s.fetched {
		s.cur++
		return true
	}
	if s.last != cRow && (s.fetched > 0 || s.err != nil) {
		// The last fetch ended the statement (or failed): report that
		// once more rather than stepping again, which would start it over.
		s.fetched, s.cur = 0, -1
		return false
	}
	if s.err = s.c.interrupted(); s.err != nil {
		return false
	}
	nargs := C.int(-1)
	if s.dirty {
		nargs = C.int(len(s.args))
		s.dirty = false
	}
	var got C.int
	rc := C.chr_fetch(s.s, s.argp, nargs, s.buf, s.rowp, C.int(s.ncol), C.int(s.batch),
		&s.arena, &s.arenaN, fetchBytes, &got)
	s.last, s.fetched, s.cur = rc, int(got), 0
	if rc != cRow && rc != cDone {
		s.err = s.c.error(rc)
	}
	if s.fetched > 0 {
		return true
	}
	s.cur = -1
	return false
}

func (s *cStmt) Err() error { return s.err }

func (s *cStmt) BindCount() int { return len(s.args) }

func (s *cStmt) BindIndex(name string) int {
	if s.s == nil {
		return 0
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	return int(C.sqlite3_bind_parameter_index(s.s, cn))
}

func (s *cStmt) BindName(param int) string {
	if s.s == nil {
		return ""
	}
	return C.GoString(C.sqlite3_bind_parameter_name(s.s, C.int(param)))
}

func (s *cStmt) ColumnCount() int { return s.ncol }

func (s *cStmt) ColumnName(col int) string {
	if s.s == nil {
		return ""
	}
	return C.GoString(C.sqlite3_column_name(s.s, C.int(col)))
}

func (s *cStmt) ColumnDeclType(col int) string {
	if s.s == nil {
		return ""
	}
	return C.GoString(C.sqlite3_column_decltype(s.s, C.int(col)))
}

// ColumnType is the type of the column in the current row.
func (s *cStmt) ColumnType(col int) sqlite3.Datatype {
	c := s.col(col)
	if c == nil {
		return sqlite3.NULL
	}
	return sqlite3.Datatype(c.typ)
}

func (s *cStmt) ColumnFloat(col int) float64 {
	c := s.col(col)
	switch {
	case c == nil:
		return 0
	case c.typ == cColumnFloat:
		return math.Float64frombits(uint64(c.off))
	case c.typ == cColumnText || c.typ == cColumnBlob:
		f, _ := strconv.ParseFloat(string(s.ColumnRawText(col)), 64)
		return f
	}
	return float64(c.i)
}

func (s *cStmt) Exec() error {
	for s.Step() {
	}
	err := s.err
	if rerr := s.Reset(); err == nil {
		err = rerr
	}
	return err
}

// col returns column i of the current row, or nil.
func (s *cStmt) col(i int) *C.chr_col {
	if i < 0 || i >= s.ncol || s.cur < 0 || s.cur >= s.fetched {
		return nil
	}
	return &s.rows[s.cur*s.ncol+i]
}

func (s *cStmt) ColumnInt64(col int) int64 {
	c := s.col(col)
	switch {
	case c == nil:
		return 0
	case c.typ == cColumnText:
		n, _ := strconv.ParseInt(string(s.ColumnRawText(col)), 10, 64)
		return n
	}
	return int64(c.i)
}

func (s *cStmt) ColumnRawText(col int) []byte {
	c := s.col(col)
	if c == nil || c.typ != cColumnText && c.typ != cColumnBlob {
		return nil
	}
	if c.n == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(s.arena), c.off)), int(c.n))
}

func (s *cStmt) ColumnRawBlob(col int) []byte { return s.ColumnRawText(col) }

func (s *cStmt) ColumnText(col int) string {
	c := s.col(col)
	switch {
	case c == nil || c.typ == cColumnNull:
		return ""
	case c.typ != cColumnText && c.typ != cColumnBlob:
		return strconv.FormatInt(int64(c.i), 10)
	}
	return string(s.ColumnRawText(col))
}

// ColumnBlob appends the blob to buf.
func (s *cStmt) ColumnBlob(col int, buf []byte) []byte {
	return append(buf, s.ColumnRawBlob(col)...)
}

func (s *cStmt) Reset() error {
	s.fetched, s.cur, s.last, s.err = 0, -1, 0, nil
	if s.arenaN > keepArena {
		C.free(unsafe.Pointer(s.arena))
		s.arena, s.arenaN = nil, 0
	}
	if rc := C.sqlite3_reset(s.s); rc != 0 {
		return s.c.error(rc)
	}
	return nil
}

func (s *cStmt) ClearBindings() error {
	for i := range s.args {
		s.args[i].typ = cArgNull
	}
	s.used = 0
	s.dirty = true
	return nil
}

func (s *cStmt) Close() error {
	if s.s == nil {
		return nil
	}
	rc := C.sqlite3_finalize(s.s)
	s.s = nil
	C.free(unsafe.Pointer(s.argp))
	C.free(unsafe.Pointer(s.rowp))
	C.free(unsafe.Pointer(s.buf))
	C.free(unsafe.Pointer(s.arena))
	s.argp, s.rowp, s.buf, s.arena, s.args, s.rows, s.data = nil, nil, nil, nil, nil, nil, nil
	s.fetched, s.cur = 0, -1
	if rc != 0 {
		return s.c.error(rc)
	}
	return nil
}
