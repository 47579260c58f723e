package postgres

import (
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5/pgconn"
)

// interpret maps PostgreSQL errors that have a chronicle meaning to its
// sentinels, keeping the original error in the chain.
func interpret(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	var sentinel error
	switch pe.Code {
	case "53100": // disk_full
		sentinel = chronicle.ErrStorageFull
	case "25006": // read_only_sql_transaction: a standby, or default_transaction_read_only
		sentinel = chronicle.ErrReadOnly
	case "55P03", "40P01", "40001", "53300": // lock_not_available, deadlock_detected, serialization_failure (also a standby's recovery conflict), too_many_connections
		sentinel = chronicle.ErrBusy
	default:
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}
