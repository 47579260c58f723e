// Package sqlite is Chronicle's embedded, serverless backend: an event store
// in one SQLite file, or in memory.
//
//	store, err := sqlite.Open(ctx, "events.db", nil) // or "" for in-memory
//	if err != nil { … }
//	defer store.Close()
//
// # How it uses SQLite
//
// The database runs in WAL mode with synchronous=NORMAL, a 16 MiB page cache
// per connection and a busy timeout. Every write goes through one writer
// connection and a BEGIN IMMEDIATE transaction, so expectations and
// idempotency are checked inside the transaction that writes. Reads use a
// pool of read-only connections, which WAL lets run beside the writer. A
// dedicated notifier connection checks PRAGMA data_version every
// PollInterval to notice appends by other processes; appends through the
// store itself wake watchers at once.
//
// SQLite's automatic WAL checkpoints, which run inside the commit that takes
// the WAL past 1,000 pages and stall it for milliseconds, are replaced by a
// goroutine that checkpoints on a connection of its own while commits go on,
// then holds the process's writes only to copy the few pages committed
// meanwhile, so that the WAL starts over. The WAL stays near 1,000 pages
// (4 MiB with SQLite's default page size) and under 4,000 pages plus one
// commit, except while a read transaction stays open: a checkpoint cannot
// copy what an open read may still need, so the WAL grows until it ends.
//
// Several processes may open one file at once: appends stay correct (SQLite
// serializes writers and each append re-checks the stream's version in its
// transaction), and each process's watchers see the others' events.
//
// # Durability
//
// With synchronous=NORMAL in WAL mode (the default) a committed append
// survives a crash of the process; after a power loss the last commits may be
// lost, but the file is never corrupt. Options.Synchronous = SyncFull syncs
// every commit to disk before the append returns, so that it survives a power
// loss too, at the cost of one disk sync per commit (shared by the appends of
// one group commit).
//
// # Schema
//
// Chronicle owns these names in a SQLite file, and no others:
//
//   - every table and index whose name starts with chronicle_
//     (chronicle_events, chronicle_streams, chronicle_snapshots, their
//     indexes, and any table a later version adds);
//   - PRAGMA application_id, which marks the file as a Chronicle store
//     ([ApplicationID]);
//   - PRAGMA user_version, the version of Chronicle's schema
//     ([SchemaVersion]).
//
// An application may keep its own tables in the same file under any other
// name, for example read models that a projection updates in the
// transaction that saves its checkpoint, and may create them before or
// after the store: Open creates the store beside tables already in a file
// whose application_id and user_version are both 0 and that holds no name
// starting with chronicle_. An application that shares the file must not
// use user_version for its own migrations (keep its schema version in a
// table of its own). Open switches the file to WAL mode.
//
// The schema is migrated on Open, in one transaction, from migrations
// embedded in the package; files written before schema 2 named the tables
// and indexes without the prefix and are renamed then. A file that cannot
// be a Chronicle store (another application_id; a user_version that
// another tool set while application_id is 0; a name starting with
// chronicle_ in a file that is not yet a store) or that was written by a
// newer schema fails to open with chronicle.ErrIncompatible and is left
// untouched.
//
// # Engines
//
// By default SQLite runs as pure Go: github.com/ncruces/go-sqlite3 (SQLite
// compiled to Go), used through its direct API, so the package builds with
// nothing but Go. Built with the chronicle_cgo tag and cgo enabled, stores in
// files run on native SQLite instead, which writes and replays faster (see
// BENCHMARKS.md): the system's SQLite library (libsqlite3, 3.37 or later),
// called directly. Such a build needs gcc and SQLite's header and library
// (on Debian and Ubuntu: apt-get install libsqlite3-dev). In-memory
// stores keep the pure-Go engine in every build. Both engines pass the same
// conformance suite, write the same file format and share one file across
// processes; within one process, use a file through one engine only, which
// [Backend.DB] does. No build registers a database/sql driver name, so a
// program may import any SQLite driver beside this package. [Engine] and
// [LibVersion] tell what a build runs on.
//
//	go build -tags chronicle_cgo ./...
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/internal/faillog"
)

// ApplicationID marks a SQLite file as a Chronicle store (PRAGMA
// application_id): "Chr" followed by 1.
const ApplicationID = 0x43687231

//go:embed migrations/*.sql
var migrationFS embed.FS

// Backend is the SQLite implementation of [chronicle.Backend]. Most programs
// use [Open], which returns a ready [*chronicle.Store].
type Backend struct {
	opts   Options
	log    *slog.Logger
	path   string      // "" when in memory
	file   os.FileInfo // the database file as opened; nil in memory
	memory bool
	engine engine // the SQLite implementation behind the connections

	wmu      sync.Mutex // held while a group runs on the writer connection
	writer   *conn      // guarded by wmu once open
	sql      writerSQL  // guarded by wmu
	queue    chan *writeReq
	stop     chan struct{} // closed by Close to end the writer goroutine
	stopped  chan struct{} // closed when the writer goroutine has ended
	onCommit func()        // set by the Store (SetCommitHook); called once per group

	groups      atomic.Int64 // committed groups that wrote something
	groupedReqs atomic.Int64 // requests answered in those groups
	batched     atomic.Int64 // appends that ran in batches (before the commit)
	batchReruns atomic.Int64 // batches whose statements failed, so that their group ran again one by one

	hooks atomic.Pointer[chronicle.Hooks] // set by the Store (SetHooks); nil when none

	readers pool
	nreader int

	notifier *conn // nil in memory: no other process can write there

	ckpt *checkpointer // WAL checkpoints off the commit path; nil in memory

	uri      string        // the database's read-write URI, for DB's connections
	dbMu     sync.Mutex    // guards db and dbClosed
	db       *sql.DB       // DB's handle, once asked for
	dbClosed bool          // Close has run: DB's handle is closed
	sqlTurn  chan struct{} // held by the DB handle's write transaction in progress
}

var _ chronicle.Backend = (*Backend)(nil)

// Open opens (creating when missing) the event store at path and returns
// it as a [*chronicle.Store]. An empty path or ":memory:" gives a private
// in-memory store that lives until Close and is shared with nothing else.
// opts may be nil.
func Open(ctx context.Context, path string, opts *Options) (*chronicle.Store, error) {
	if opts != nil && opts.MaxEventBytes > maxWasmEventBytes && (path == "" || path == ":memory:" || Engine == "wasm") {
		return nil, fmt.Errorf("sqlite: %w: MaxEventBytes %d is more than the default SQLite engine writes (%d); "+
			"build with the chronicle_cgo tag for larger events", chronicle.ErrInvalid, opts.MaxEventBytes, maxWasmEventBytes)
	}
	b, err := OpenBackend(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	st, err := chronicle.New(b, &chronicle.Options{
		Logger: b.log, PageSize: b.opts.PageSize,
		MaxEventBytes: b.opts.MaxEventBytes, MaxBatchBytes: b.opts.MaxBatchBytes,
		Hooks: b.opts.Hooks,
	})
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return st, nil
}

// OpenBackend is [Open] without the [chronicle.Store] around it, for
// wrapping with chronicle.New.
func OpenBackend(ctx context.Context, path string, opts *Options) (*Backend, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w: %v", chronicle.ErrInvalid, err)
	}
	b := &Backend{opts: o, log: o.Logger, sqlTurn: make(chan struct{}, 1)}
	if err := b.open(ctx, path); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Backend) open(ctx context.Context, file string) error {
	var rwURI, roURI string
	if file == "" || file == ":memory:" {
		if b.opts.NoCreate {
			return fmt.Errorf("sqlite: %w: an in-memory store is always new (NoCreate)", chronicle.ErrNoStore)
		}
		b.memory = true
		b.engine = wasmEngine{}
		u := url.URL{Scheme: "file", OmitHost: true, Path: "/chronicle-" + rand.Text(), RawQuery: "vfs=mvcc"}
		rwURI, roURI = u.String(), u.String()
	} else {
		b.path = file
		b.engine = fileEngine()
		u := url.URL{Scheme: "file", OmitHost: true, Path: file}
		if b.opts.NoCreate {
			if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("sqlite: %w: %s does not exist", chronicle.ErrNoStore, file)
			}
			u.RawQuery = "mode=rw" // should the file go meanwhile, SQLite must not create it
		} else if err := createFile(file, b.opts.FileMode); err != nil {
			return fmt.Errorf("sqlite: create %s: %w", file, err)
		}
		rwURI = u.String()
		u.RawQuery = "mode=ro"
		roURI = u.String()
	}
	b.uri = rwURI

	w, err := b.connect(ctx, rwURI, openReadWrite)
	if err != nil {
		return err
	}
	b.writer = w
	// Until the file is known to be ours, closing must not checkpoint a
	// WAL left by a crashed writer into it: a refused file is left as it
	// was. (Without such a WAL, a clean close removes the files it made.)
	if fi, err := os.Stat(b.path + "-wal"); err == nil && fi.Size() > 0 {
		if err := w.c.NoCheckpointOnClose(true); err != nil {
			return fmt.Errorf("sqlite: configure writer: %w", err)
		}
	}
	if err := b.checkAndMigrate(ctx, w); err != nil {
		return err
	}
	if err := w.c.NoCheckpointOnClose(false); err != nil {
		return fmt.Errorf("sqlite: configure writer: %w", err)
	}
	if err := b.matchFileModes(); err != nil {
		return err
	}
	if !b.memory {
		fi, err := os.Stat(b.path)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		b.file = fi
	}

	if !b.memory {
		w.c.HookWAL()
		if err := b.startCheckpointer(ctx); err != nil {
			return err
		}
	}
	for range b.opts.ReadConns {
		r, err := b.connect(ctx, roURI, openReadOnly)
		if err != nil {
			return err
		}
		b.readers.add(r)
		b.nreader++
	}
	b.queue = make(chan *writeReq, b.opts.MaxGroup)
	b.stop = make(chan struct{})
	b.stopped = make(chan struct{})
	go b.writeLoop()
	if !b.memory {
		n, err := b.connect(ctx, roURI, openReadOnly)
		if err != nil {
			return err
		}
		b.notifier = n
	}
	b.log.Debug("chronicle sqlite store opened", "path", b.path, "memory", b.memory, "readers", b.opts.ReadConns)
	return nil
}

// matchFileModes gives the WAL and shared-memory files the permissions of
// the database file: SQLite creates them with the process's defaults, and
// the WAL holds every recent event.
func (b *Backend) matchFileModes() error {
	if b.memory {
		return nil
	}
	fi, err := os.Stat(b.path)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	for _, p := range []string{b.path + "-wal", b.path + "-shm"} {
		if err := os.Chmod(p, fi.Mode().Perm()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	return nil
}

// checkFile fails when the database file was deleted or replaced since the
// store opened it: in WAL mode SQLite would go on writing into the unlinked
// file, and every write would be lost when the store closes.
func (b *Backend) checkFile() error {
	if b.file == nil {
		return nil
	}
	fi, err := os.Stat(b.path)
	if err == nil && os.SameFile(fi, b.file) {
		return nil
	}
	return fmt.Errorf("%w: %s was deleted or replaced after the store opened it; close the store and open it again",
		chronicle.ErrReadOnly, b.path)
}

// createFile creates a missing database file with mode, so that SQLite
// does not create it with the process's default permissions, and checks
// that an existing one can be written: SQLite would fall back to reading
// it and fail later with a vaguer error.
func createFile(name string, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(name, os.O_RDWR, 0)
	}
	if errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: %v", chronicle.ErrReadOnly, err)
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// connect opens one connection and sets the per-connection pragmas that do
// not change the file.
func (b *Backend) connect(ctx context.Context, uri string, mode openMode) (*conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := b.engine.open(uri, mode)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", b.path, interpret(ctx, err))
	}
	if err := c.BusyTimeout(b.opts.BusyTimeout); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("sqlite: busy timeout: %w", err)
	}
	pragmas := "PRAGMA cache_size = -" + strconv.Itoa(b.opts.CacheSizeKiB) + "; PRAGMA temp_store = MEMORY;"
	if err := c.Exec(pragmas); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("sqlite: configure %s: %w", b.path, interpret(ctx, err))
	}
	return newConn(c), nil
}

type migration struct {
	version int
	name    string
	sql     string
	// upgradeOnly marks a migration that only brings files of an earlier
	// schema up to date: a new file gets its result from the migrations
	// before it and skips it.
	upgradeOnly bool
}

// upgradeOnlyLine, as a migration's first line, marks it upgrade only.
const upgradeOnlyLine = "-- upgrade only\n"

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("sqlite: bad migration name %q", e.Name())
		}
		body, err := fs.ReadFile(migrationFS, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body),
			upgradeOnly: strings.HasPrefix(string(body), upgradeOnlyLine)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlite: migrations not numbered 1..n at %q", m.name)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this package writes (PRAGMA
// user_version).
func SchemaVersion() int {
	ms, _ := migrations()
	return len(ms)
}

// prefix starts the name of every table and index Chronicle keeps in a
// SQLite file. An application may keep its own tables in the same file
// under any other name.
const prefix = "chronicle_"

// checkAndMigrate refuses files that are not Chronicle stores and cannot
// become one, or are newer than this package, before changing anything in
// them; then it switches the file to WAL and applies missing migrations in
// one transaction. A file that holds only an application's own tables
// (application_id and user_version both 0) becomes a store beside them.
func (b *Backend) checkAndMigrate(ctx context.Context, w *conn) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	f, err := b.identify(w)
	if err != nil {
		return err
	}
	if err := compatible(f, len(ms)); err != nil {
		return err
	}
	if b.opts.NoCreate && f.userVersion == 0 {
		return fmt.Errorf("sqlite: %w: %s holds no Chronicle store", chronicle.ErrNoStore, b.path)
	}

	mode := "WAL"
	if b.memory {
		mode = "MEMORY" // the mvcc VFS gives readers their own snapshots already
	}
	if err := w.c.Exec("PRAGMA journal_mode = " + mode + "; PRAGMA synchronous = " + b.opts.Synchronous.String() + ";"); err != nil {
		return fmt.Errorf("sqlite: configure writer: %w", interpret(ctx, err))
	}

	w.c.SetInterrupt(ctx)
	defer w.c.SetInterrupt(context.Background())
	if err := w.exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", interpret(ctx, err))
	}
	commit := false
	defer func() {
		if !commit {
			_ = w.exec("ROLLBACK")
		}
	}()
	// Another process may have migrated meanwhile: look again inside the
	// write transaction.
	if f, err = b.identify(w); err != nil {
		return err
	}
	if err := compatible(f, len(ms)); err != nil {
		return err
	}
	if f.userVersion == 0 && f.objects > 0 {
		b.log.Info("chronicle sqlite store created beside the tables already in the file", "path", b.path)
	}
	for _, m := range ms[f.userVersion:] {
		if f.userVersion == 0 && m.upgradeOnly {
			continue // a new store has this migration's result already
		}
		if err := w.c.Exec(m.sql); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
		level := slog.LevelDebug // creating a new store is routine
		if f.userVersion > 0 {
			level = slog.LevelInfo // upgrading an existing one is worth a line
		}
		b.log.Log(ctx, level, "chronicle sqlite schema migrated", "path", b.path, "migration", m.name)
	}
	if err := w.c.Exec(fmt.Sprintf("PRAGMA application_id = %d; PRAGMA user_version = %d;", ApplicationID, len(ms))); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := w.exec("COMMIT"); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", interpret(ctx, err))
	}
	commit = true
	return nil
}

// fileState is what checkAndMigrate reads from a file before it changes it.
type fileState struct {
	appID, userVersion int64  // PRAGMA application_id and user_version
	objects            int64  // tables, indexes, views and triggers in it
	reserved           string // the first of them named with prefix, or ""
}

// sqlReserved finds an object named with prefix. LIKE ignores ASCII case,
// as SQLite does for names.
const sqlReserved = `SELECT name FROM sqlite_schema WHERE name LIKE 'chronicle\_%' ESCAPE '\' ORDER BY name LIMIT 1`

func (b *Backend) identify(w *conn) (fileState, error) {
	var f fileState
	_, err := w.row("PRAGMA application_id", []*int64{&f.appID})
	if err == nil {
		_, err = w.row("PRAGMA user_version", []*int64{&f.userVersion})
	}
	if err == nil {
		_, err = w.row("SELECT count(*) FROM sqlite_schema", []*int64{&f.objects})
	}
	if err == nil {
		f.reserved, err = reservedName(w)
	}
	if err != nil {
		return fileState{}, fmt.Errorf("sqlite: %s: read schema: %w", b.path, interpret(context.Background(), err))
	}
	return f, nil
}

func reservedName(w *conn) (string, error) {
	st, err := w.prep(sqlReserved)
	if err != nil {
		return "", err
	}
	defer done(st)
	if !st.Step() {
		return "", st.Err()
	}
	return st.ColumnText(0), nil
}

// compatible tells whether a file in state f can be opened as a store of
// schema version latest: an empty file or one that holds only an
// application's own tables (application_id and user_version 0, no name with
// prefix), or a Chronicle store not newer than latest.
func compatible(f fileState, latest int) error {
	switch {
	case f.appID != 0 && f.appID != ApplicationID:
		return fmt.Errorf("sqlite: %w: not a Chronicle database (application_id %#x, user_version %d)",
			chronicle.ErrIncompatible, f.appID, f.userVersion)
	case f.appID == 0 && f.userVersion != 0:
		return fmt.Errorf("sqlite: %w: not a Chronicle database: user_version is %d, so another tool keeps its "+
			"schema version there, and Chronicle needs user_version for its own", chronicle.ErrIncompatible, f.userVersion)
	case f.userVersion < 0:
		return fmt.Errorf("sqlite: %w: not a Chronicle database (application_id %#x, user_version %d)",
			chronicle.ErrIncompatible, f.appID, f.userVersion)
	case f.userVersion > int64(latest):
		return fmt.Errorf("sqlite: %w: schema version %d is newer than this version of Chronicle supports (%d)",
			chronicle.ErrIncompatible, f.userVersion, latest)
	case f.userVersion == 0 && f.reserved != "":
		return fmt.Errorf("sqlite: %w: the file is not a Chronicle store but holds %q: names starting with %q are Chronicle's",
			chronicle.ErrIncompatible, f.reserved, prefix)
	}
	return nil
}

// Close closes every connection, and [Backend.DB]'s handle after the
// store's own. The Store calls it once no other call is running.
func (b *Backend) Close() error {
	var errs []error
	if b.stop != nil {
		close(b.stop)
		<-b.stopped
		b.stop = nil
	}
	if b.ckpt != nil && b.ckpt.c != nil {
		errs = append(errs, b.ckpt.close())
		b.ckpt.c = nil
	}
	if b.notifier != nil {
		errs = append(errs, b.notifier.close())
		b.notifier = nil
	}
	for ; b.nreader > 0; b.nreader-- {
		c, err := b.readers.get(context.Background())
		if err == nil {
			err = c.close()
		}
		errs = append(errs, err)
	}
	if b.writer != nil {
		errs = append(errs, b.writer.close())
		b.writer = nil
	}
	errs = append(errs, b.closeDB())
	return errors.Join(errs...)
}

// WatchChanges polls PRAGMA data_version on the notifier connection every
// PollInterval and calls changed when another connection committed.
func (b *Backend) WatchChanges(ctx context.Context, changed func()) {
	if b.notifier == nil {
		<-ctx.Done()
		return
	}
	var last int64
	var failing faillog.State
	check := func() bool {
		var v int64
		if _, err := b.notifier.row("PRAGMA data_version", []*int64{&v}); err != nil {
			failing.Failed(b.log, "chronicle sqlite: change check failed", "path", b.path, "err", err)
			return false
		}
		failing.OK(b.log, "chronicle sqlite: change check works again", "path", b.path)
		moved := v != last
		last = v
		return moved
	}
	check()
	t := time.NewTicker(b.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if check() {
				changed()
			}
		}
	}
}
