package sqlite

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/chronicle-go/chronicle"
)

// Defaults of [Options].
const (
	DefaultCacheSizeKiB = 16384                 // 16 MiB page cache per connection
	maxWasmEventBytes   = 64 << 20              // the largest MaxEventBytes of the default engine
	DefaultBusyTimeout  = 5 * time.Second       // how long a write waits for another process's lock
	DefaultPollInterval = 50 * time.Millisecond // how often changes by other processes are checked
	DefaultFileMode     = os.FileMode(0o600)    // permissions of a new database file
	DefaultMaxGroup     = 256                   // writes that may share one transaction
	maxMaxGroup         = 4096                  // upper bound on Options.MaxGroup
	maxReadConns        = 64                    // upper bound on Options.ReadConns
	minPollInterval     = 1 * time.Millisecond  // lower bound on Options.PollInterval
	maxPollInterval     = 1 * time.Minute       // upper bound on Options.PollInterval
	maxBusyTimeout      = 10 * time.Minute      // upper bound on Options.BusyTimeout
)

// Synchronous is how far a commit must reach before the write that made it
// returns: SQLite's synchronous setting on the writer connection.
type Synchronous int

const (
	// SyncNormal (the default) is synchronous=NORMAL in WAL mode: a
	// committed write survives a crash of the process; after a power loss
	// or an operating-system crash the last commits may be lost, but the
	// file is never corrupt.
	SyncNormal Synchronous = iota
	// SyncFull is synchronous=FULL: every commit is synced to disk before
	// the write returns, so it also survives a power loss. Each commit
	// waits for the disk (figures in BENCHMARKS.md); group commit shares
	// that wait among concurrent writes.
	SyncFull
)

func (s Synchronous) String() string {
	switch s {
	case SyncNormal:
		return "NORMAL"
	case SyncFull:
		return "FULL"
	}
	return fmt.Sprintf("Synchronous(%d)", int(s))
}

// Options configure [Open]. The zero value (or nil) gives the defaults,
// which are the tuning the embedded store is measured with.
type Options struct {
	// NoCreate makes Open fail with chronicle.ErrNoStore, creating and
	// changing nothing, unless the file exists and holds a Chronicle store
	// already: for tools that inspect a store and must not leave an empty
	// one behind when given a wrong path. (A store of an older schema is
	// still migrated.) An in-memory store is always new, so NoCreate
	// refuses it.
	NoCreate bool
	// ReadConns is the size of the pool of read-only connections that serve
	// Read, ReadAll, Watch and the metrics. Zero means max(4, GOMAXPROCS).
	ReadConns int
	// CacheSizeKiB is the SQLite page cache of each connection, in KiB.
	// Zero means DefaultCacheSizeKiB.
	CacheSizeKiB int
	// BusyTimeout is how long a call waits for a lock held by another
	// process before it fails with chronicle.ErrBusy. Zero means
	// DefaultBusyTimeout.
	BusyTimeout time.Duration
	// PollInterval is how often the notifier checks whether another
	// process changed the file (one PRAGMA data_version on its own
	// connection, whatever the number of watchers). Appends through this
	// store wake watchers at once and do not wait for it. Zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// FileMode is the permission of a database file that Open creates.
	// Zero means DefaultFileMode (owner read/write only).
	FileMode os.FileMode
	// MaxGroup is the largest number of concurrent writes (appends and
	// snapshot saves) that share one transaction: group commit. Zero means
	// DefaultMaxGroup; 1 gives every write its own transaction.
	MaxGroup int
	// Synchronous is the durability of a commit. The zero value is
	// SyncNormal.
	Synchronous Synchronous
	// PageSize is the number of events Read and Watch fetch per query.
	// Zero means chronicle.DefaultPageSize.
	PageSize int
	// MaxEventBytes bounds one event's data plus metadata (see
	// chronicle.Options). Zero means chronicle.DefaultMaxEventBytes. The
	// default engine (SQLite compiled to Go, which also runs every store in
	// memory) writes events of up to 64 MiB: its connections have a fixed
	// amount of memory (1 GiB for those that write), and a value is in it
	// twice while it is written. Open refuses a larger limit there. A
	// Backend wrapped by chronicle.New with a larger limit fails an append
	// that does not fit with an error: ErrInvalid when a value cannot be
	// bound, else an out-of-memory error.
	MaxEventBytes int
	// MaxBatchBytes bounds the data plus metadata of one Append (see
	// chronicle.Options). Zero means chronicle.DefaultMaxBatchBytes.
	MaxBatchBytes int
	// Logger receives the store's logs. Nil means slog.Default().
	Logger *slog.Logger
	// Hooks receive measurements of the store's work, for metrics and
	// traces (see chronicle.Hooks): those of every store, and the
	// backend's own: group commits, WAL checkpoints and the WAL's size.
	// Nil means none.
	Hooks *chronicle.Hooks
}

func (o *Options) withDefaults() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	switch {
	case r.ReadConns < 0 || r.ReadConns > maxReadConns:
		return r, fmt.Errorf("ReadConns %d out of range 0..%d", r.ReadConns, maxReadConns)
	case r.CacheSizeKiB < 0:
		return r, fmt.Errorf("CacheSizeKiB %d is negative", r.CacheSizeKiB)
	case r.BusyTimeout < 0 || r.BusyTimeout > maxBusyTimeout:
		return r, fmt.Errorf("BusyTimeout %v out of range 0..%v", r.BusyTimeout, maxBusyTimeout)
	case r.PollInterval < 0 || r.PollInterval > maxPollInterval || (r.PollInterval > 0 && r.PollInterval < minPollInterval):
		return r, fmt.Errorf("PollInterval %v out of range %v..%v", r.PollInterval, minPollInterval, maxPollInterval)
	case r.FileMode&^os.ModePerm != 0:
		return r, fmt.Errorf("FileMode %v has bits other than permissions", r.FileMode)
	case r.MaxGroup < 0 || r.MaxGroup > maxMaxGroup:
		return r, fmt.Errorf("MaxGroup %d out of range 0..%d", r.MaxGroup, maxMaxGroup)
	case r.Synchronous != SyncNormal && r.Synchronous != SyncFull:
		return r, fmt.Errorf("Synchronous %v is neither SyncNormal nor SyncFull", r.Synchronous)
	case r.PageSize < 0:
		return r, fmt.Errorf("PageSize %d is negative", r.PageSize)
	}
	if r.ReadConns == 0 {
		r.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	if r.CacheSizeKiB == 0 {
		r.CacheSizeKiB = DefaultCacheSizeKiB
	}
	if r.BusyTimeout == 0 {
		r.BusyTimeout = DefaultBusyTimeout
	}
	if r.PollInterval == 0 {
		r.PollInterval = DefaultPollInterval
	}
	if r.FileMode == 0 {
		r.FileMode = DefaultFileMode
	}
	if r.MaxGroup == 0 {
		r.MaxGroup = DefaultMaxGroup
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	return r, nil
}
