package postgres

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/chronicle-go/chronicle"
)

// Defaults of [Options].
const (
	DefaultSchema         = "chronicle"
	DefaultMaxConns       = 16                     // connections of a pool that Open creates
	DefaultPollInterval   = 100 * time.Millisecond // how often the global stream's head is checked
	DefaultVisibilityWait = 5 * time.Second        // how long a read waits for this store's own appends

	minPollInterval = time.Millisecond
	maxPollInterval = time.Minute
	maxMaxConns     = 1000
	// notifyInterval spaces the NOTIFYs that tell other processes about
	// commits: at most one per interval, and one after the last commit.
	// Each costs a round trip and a transaction on the server.
	notifyInterval = 10 * time.Millisecond
)

// Options configure [Open] and [OpenPool]. The zero value (or nil) gives
// the defaults.
type Options struct {
	// NoCreate makes Open fail with chronicle.ErrNoStore, creating and
	// changing nothing, unless Schema holds a Chronicle store already: for
	// tools that inspect a store and must not leave an empty one behind
	// when given a wrong schema or database. (A store of an older schema
	// version is still migrated.)
	NoCreate bool
	// Schema is the PostgreSQL schema that holds the store's tables, so
	// that several stores can share one database. Open creates it when
	// missing. 1 to 53 of a–z, 0–9 and '_', not starting with a digit (the
	// store's NOTIFY channel, "chronicle_" and the schema, must fit
	// PostgreSQL's 63-byte names).
	// Empty means DefaultSchema.
	Schema string
	// MaxConns is the size of the connection pool that [Open] creates, and
	// of the replica's pool (ReplicaURL), with Open and with OpenPool.
	// Zero means DefaultMaxConns. [OpenPool] uses the caller's pool as it
	// is. The store also holds one connection of its own for LISTEN.
	MaxConns int
	// PollInterval is how often the store checks the head of the global
	// stream for events its notifications did not announce: events of
	// processes that do not notify, and events held back by a transaction
	// that was still running (see the package documentation). Zero means
	// DefaultPollInterval.
	PollInterval time.Duration
	// DisableListen turns off LISTEN: other processes' events are found by
	// polling only, every PollInterval. Use it behind a pooler in
	// transaction mode (PgBouncer), where LISTEN does not work, with
	// OpenPool on a pool configured for that pooler.
	DisableListen bool
	// VisibilityWait bounds how long ReadAll, WatchAll's start and Stats
	// wait for this store's own acknowledged appends to become visible on
	// the global stream, which happens once every transaction that started
	// before them has ended (normally within milliseconds), and, with
	// ReplicaURL, how long reads wait for the standby to replay this
	// store's writes. Past it they return what is visible. Zero means
	// DefaultVisibilityWait.
	VisibilityWait time.Duration
	// ReplicaURL, when set, is a connection string of a hot standby of the
	// primary: Read, ReadAll, Watch, WatchAll, LoadSnapshot and the metrics
	// go there; appends, SaveSnapshot and LISTEN to the primary. A read
	// after a write of this store waits until the standby has replayed the
	// write (up to VisibilityWait, then it reads what the standby has).
	// Open waits as long for the standby to have the store's schema, and
	// fails with chronicle.ErrIncompatible when it does not. The store owns
	// that pool and closes it.
	ReplicaURL string
	// Logger receives the store's logs. Nil means slog.Default(). Payloads
	// are never logged.
	Logger *slog.Logger
	// PageSize, MaxEventBytes and MaxBatchBytes are passed to
	// chronicle.Options (zero means chronicle's defaults).
	PageSize      int
	MaxEventBytes int
	MaxBatchBytes int
	// Hooks receive measurements of the store's work, for metrics and
	// traces (see chronicle.Hooks): those of every store, and the
	// backend's own: the visibility frontier's age and the delay of the
	// notifications of other processes' commits. Nil means none.
	Hooks *chronicle.Hooks
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,52}$`)

func (o *Options) withDefaults() (Options, error) {
	var out Options
	if o != nil {
		out = *o
	}
	var errs []error
	if out.Schema == "" {
		out.Schema = DefaultSchema
	}
	if !schemaName.MatchString(out.Schema) {
		errs = append(errs, fmt.Errorf("Schema %q: want 1 to 53 of a-z, 0-9 and _, not starting with a digit", out.Schema))
	}
	switch {
	case out.MaxConns == 0:
		out.MaxConns = DefaultMaxConns
	case out.MaxConns < 0 || out.MaxConns > maxMaxConns:
		errs = append(errs, fmt.Errorf("MaxConns %d: want 1 to %d", out.MaxConns, maxMaxConns))
	}
	switch {
	case out.PollInterval == 0:
		out.PollInterval = DefaultPollInterval
	case out.PollInterval < minPollInterval || out.PollInterval > maxPollInterval:
		errs = append(errs, fmt.Errorf("PollInterval %v: want %v to %v", out.PollInterval, minPollInterval, maxPollInterval))
	}
	switch {
	case out.VisibilityWait == 0:
		out.VisibilityWait = DefaultVisibilityWait
	case out.VisibilityWait < 0:
		errs = append(errs, fmt.Errorf("VisibilityWait %v: negative", out.VisibilityWait))
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out, errors.Join(errs...)
}
