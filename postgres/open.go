package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Backend is the PostgreSQL implementation of [chronicle.Backend]. Most
// programs use [Open] or [OpenPool], which return a ready
// [*chronicle.Store].
type Backend struct {
	opts    Options
	log     *slog.Logger
	pool    *pgxpool.Pool // the primary: appends, snapshots
	read    *pgxpool.Pool // reads: the replica when configured, else pool
	owned   []*pgxpool.Pool
	listen  *pgx.ConnConfig // for the LISTEN connection; nil when disabled
	sql     statements
	channel string // the NOTIFY channel of this schema
	id      string // this store's name in its notifications

	beginRC  bool          // the pool's sessions default to another isolation
	onCommit func()        // set by the Store (SetCommitHook)
	ownXid   atomic.Uint64 // the newest transaction of this store's writes
	// The newest of them that reads no longer wait for: below the frontier,
	// or waited for until Options.VisibilityWait.
	frontierPast atomic.Uint64
	unreplayed   xidSet // with a replica: writes not yet seen there
	notify       notifier

	hooks atomic.Pointer[chronicle.Hooks] // set by the Store (SetHooks); nil when none

	closeOnce sync.Once
	sqldb     sqlDB // the database/sql handle (DB)
}

var (
	_ chronicle.Backend        = (*Backend)(nil)
	_ chronicle.CommitNotifier = (*Backend)(nil)
	_ chronicle.HookedBackend  = (*Backend)(nil)
)

// Open connects to the PostgreSQL database at connString (a URL or a
// key=value string, as pgx reads them), creates or migrates the store's
// schema, and returns the store. The store owns its connection pool and
// closes it on Close. opts may be nil.
//
// The pool's sessions run with plan_cache_mode=force_generic_plan: the
// store's statements are prepared once per connection, and re-planning
// them for their parameters gains nothing (appends are ~10 % faster); and
// with default_transaction_isolation=read committed, which appends need,
// over any default of the connection string, role or database.
func Open(ctx context.Context, connString string, opts *Options) (*chronicle.Store, error) {
	b, err := OpenBackend(ctx, connString, opts)
	if err != nil {
		return nil, err
	}
	return b.store()
}

// OpenPool is [Open] on the caller's pool, which the store uses as it is
// and does not close. The LISTEN connection is opened from the pool's
// configuration. Setting plan_cache_mode=force_generic_plan in the pool's
// RuntimeParams speeds appends up, as Open does. When the pool's sessions
// default to an isolation level other than READ COMMITTED (checked once, at
// open), appends begin their transactions with READ COMMITTED themselves.
func OpenPool(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*chronicle.Store, error) {
	b, err := OpenPoolBackend(ctx, pool, opts)
	if err != nil {
		return nil, err
	}
	return b.store()
}

func (b *Backend) store() (*chronicle.Store, error) {
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
func OpenBackend(ctx context.Context, connString string, opts *Options) (*Backend, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w: %v", chronicle.ErrInvalid, err)
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w: connection string: %v", chronicle.ErrInvalid, err)
	}
	cfg.MaxConns = int32(o.MaxConns)
	setSessionParams(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	b := &Backend{opts: o, log: o.Logger, pool: pool, owned: []*pgxpool.Pool{pool}}
	if err := b.open(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// OpenPoolBackend is [OpenPool] without the [chronicle.Store] around it.
func OpenPoolBackend(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Backend, error) {
	if pool == nil {
		return nil, fmt.Errorf("postgres: %w: nil pool", chronicle.ErrInvalid)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("postgres: %w: %v", chronicle.ErrInvalid, err)
	}
	b := &Backend{opts: o, log: o.Logger, pool: pool}
	if err := b.open(ctx); err != nil {
		_ = b.Close()
		return nil, err
	}
	return b, nil
}

// setSessionParams sets the session parameters of the pools Open creates:
// generic plans (the store's statements are prepared once per connection,
// and re-planning them for their parameters gains nothing: appends are
// ~10 % faster) and READ COMMITTED, which the appends need (see lockSQL)
// whatever the database's or role's default.
func setSessionParams(cfg *pgxpool.Config) {
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
}

func (b *Backend) open(ctx context.Context) error {
	b.read = b.pool
	if b.opts.ReplicaURL != "" {
		cfg, err := pgxpool.ParseConfig(b.opts.ReplicaURL)
		if err != nil {
			return fmt.Errorf("postgres: %w: replica connection string: %v", chronicle.ErrInvalid, err)
		}
		cfg.MaxConns = int32(b.opts.MaxConns)
		setSessionParams(cfg)
		replica, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return fmt.Errorf("postgres: connect to replica: %w", err)
		}
		b.owned = append(b.owned, replica)
		b.read = replica
	}
	if err := b.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: connect: %w", interpret(err))
	}
	// The fast append commits one pipelined batch as an implicit
	// transaction, which runs at the session's default isolation; on a
	// caller's pool that defaults to another level, it says READ COMMITTED
	// itself (two more statements in the same round trip).
	var iso string
	if err := b.pool.QueryRow(ctx, "SHOW default_transaction_isolation").Scan(&iso); err != nil {
		return fmt.Errorf("postgres: %w", interpret(err))
	}
	b.beginRC = iso != "read committed"
	if err := b.migrate(ctx); err != nil {
		return err
	}
	if err := b.replicaReady(ctx); err != nil {
		return err
	}
	schema := pgx.Identifier{b.opts.Schema}.Sanitize()
	b.sql = newStatements(schema)
	b.channel = "chronicle_" + b.opts.Schema
	b.id = rand.Text()
	if !b.opts.DisableListen {
		b.listen = b.pool.Config().ConnConfig.Copy()
	}
	b.notify.start(b)
	return nil
}

type migration struct {
	version int
	sql     string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad name", name)
		}
		text, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: n, sql: string(text)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %d missing", i+1)
		}
	}
	return out, nil
}

// SchemaVersion returns the schema version this package creates and
// migrates to.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err) // the embedded files are part of the build
	}
	return len(ms)
}

// migrateLockClass is the first key of the migration's advisory lock. The
// two-key form is a lock space of its own, apart from the streams' locks
// (lockSQL's one 64-bit key).
const migrateLockClass = 0x43687231 // "Chr1"

// readCommitted is the isolation of the store's transactions, whatever the
// session's default: each statement must see what the holder of a lock it
// waited for committed (see lockSQL).
var readCommitted = pgx.TxOptions{IsoLevel: pgx.ReadCommitted}

// migrate creates the schema or brings it to SchemaVersion, in one
// transaction under an advisory lock, so that stores opening at once do
// not race; a schema already at SchemaVersion is only read. A schema newer than this package fails with
// chronicle.ErrIncompatible.
func (b *Backend) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	schema := pgx.Identifier{b.opts.Schema}.Sanitize()
	// A schema already at this version needs no DDL, so a role without
	// CREATE rights can open a store an administrator has set up.
	var current int
	err = b.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+schema+".chronicle_schema").Scan(&current)
	switch {
	case err == nil && current == len(ms):
		return nil
	case err == nil && current > len(ms):
		return fmt.Errorf("postgres: %w: schema %s is at version %d, this build knows up to %d",
			chronicle.ErrIncompatible, b.opts.Schema, current, len(ms))
	}
	if b.opts.NoCreate && (err != nil || current == 0) {
		var exists bool
		if err := b.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", schema+".chronicle_schema").Scan(&exists); err != nil {
			return fmt.Errorf("postgres: %w", interpret(err))
		}
		if !exists || err == nil && current == 0 {
			return fmt.Errorf("postgres: %w: schema %s holds no Chronicle store", chronicle.ErrNoStore, b.opts.Schema)
		}
	}
	err = pgx.BeginTxFunc(ctx, b.pool, readCommitted, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1::int, hashtext($2))", migrateLockClass, b.opts.Schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+schema+".chronicle_schema (version integer NOT NULL)"); err != nil {
			return err
		}
		var version int
		err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+schema+".chronicle_schema").Scan(&version)
		if err != nil {
			return err
		}
		if version > len(ms) {
			return fmt.Errorf("%w: schema %s is at version %d, this build knows up to %d",
				chronicle.ErrIncompatible, b.opts.Schema, version, len(ms))
		}
		for _, m := range ms[version:] {
			if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{{schema}}", schema)); err != nil {
				return fmt.Errorf("migration %d: %w", m.version, err)
			}
			if version == 0 {
				_, err = tx.Exec(ctx, "INSERT INTO "+schema+".chronicle_schema (version) VALUES ($1)", m.version)
			} else {
				_, err = tx.Exec(ctx, "UPDATE "+schema+".chronicle_schema SET version = $1", m.version)
			}
			if err != nil {
				return err
			}
			version = m.version
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, chronicle.ErrIncompatible) {
			return fmt.Errorf("postgres: %w", err)
		}
		return fmt.Errorf("postgres: migrate schema %s: %w", b.opts.Schema, interpret(err))
	}
	return nil
}

// replicaReady waits until the replica, when there is one, has the schema
// at SchemaVersion: a standby replays a schema the primary has just created
// or migrated a little later. It fails with chronicle.ErrIncompatible when
// the replica does not have it within Options.VisibilityWait (it is not a
// standby of this primary, or it lags that far behind).
func (b *Backend) replicaReady(ctx context.Context) error {
	if b.read == b.pool {
		return nil
	}
	schema := pgx.Identifier{b.opts.Schema}.Sanitize()
	var version int
	var err error // the last look's
	timedOut, perr := poll(ctx, b.opts.VisibilityWait, 10*time.Millisecond, 10*time.Millisecond, func() (bool, error) {
		err = b.read.QueryRow(ctx, "SELECT max(version) FROM "+schema+".chronicle_schema").Scan(&version)
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P01") { // not undefined_table
			return false, fmt.Errorf("postgres: replica: %w", interpret(err))
		}
		return err == nil && version == SchemaVersion(), nil
	})
	switch {
	case perr != nil && perr == ctx.Err(): // ended during a pause
		return fmt.Errorf("postgres: replica: %w", perr)
	case perr != nil:
		return perr
	case !timedOut:
		return nil
	}
	if err != nil {
		return fmt.Errorf("postgres: %w: the replica has no schema %s after %v (is it a standby of this primary?)",
			chronicle.ErrIncompatible, b.opts.Schema, b.opts.VisibilityWait)
	}
	return fmt.Errorf("postgres: %w: the replica's schema %s is at version %d after %v, the primary's at %d",
		chronicle.ErrIncompatible, b.opts.Schema, version, b.opts.VisibilityWait, SchemaVersion())
}

// SetCommitHook implements [chronicle.CommitNotifier].
func (b *Backend) SetCommitHook(wake func()) { b.onCommit = wake }

// Describe implements [chronicle.HookedBackend]: the namespace is the
// database and the schema, as "database|schema".
func (b *Backend) Describe() chronicle.StoreInfo {
	return chronicle.StoreInfo{System: "postgresql", Namespace: b.pool.Config().ConnConfig.Database + "|" + b.opts.Schema}
}

// SetHooks implements [chronicle.HookedBackend]: h receives the age of the
// visibility frontier and the delay of notifications, from the change
// check (WatchChanges).
func (b *Backend) SetHooks(h *chronicle.Hooks) { b.hooks.Store(h) }

// Close stops the notifier and closes the pools the store owns. The Store
// calls it once no other call is running; calling it again does nothing.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		_ = b.closeDB()
		b.notify.stop()
		for _, p := range b.owned {
			p.Close()
		}
	})
	return nil
}
