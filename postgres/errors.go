package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5/pgconn"
)

// interpret maps PostgreSQL errors that have a chronicle meaning to its
// sentinels, keeping the original error in the chain.
func interpret(err error) error {
	if sentinel := classify(err); sentinel != nil {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	return err
}

// classify returns the chronicle sentinel that err belongs to, or nil.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100": // disk_full
			return chronicle.ErrStorageFull
		case pe.Code == "25006": // read_only_sql_transaction: a standby, or default_transaction_read_only
			return chronicle.ErrReadOnly
		case pe.Code == "55P03", pe.Code == "40P01", pe.Code == "40001", pe.Code == "53300":
			// lock_not_available, deadlock_detected, serialization_failure
			// (also a standby's recovery conflict), too_many_connections
			return chronicle.ErrBusy
		case pe.Code == "08000", // connection_exception
			pe.Code == "08003", // connection_does_not_exist
			pe.Code == "08006", // connection_failure
			pe.Code == "08001", // sqlclient_unable_to_establish_sqlconnection
			pe.Code == "08004", // sqlserver_rejected_establishment_of_sqlconnection
			pe.Code == "57P01", // admin_shutdown: the server is stopping
			pe.Code == "57P02", // crash_shutdown: another backend crashed
			pe.Code == "57P03", // cannot_connect_now: starting up or shutting down
			pe.Code == "57P05", // idle_session_timeout: the session was ended
			pe.Code == "25P03": // idle_in_transaction_session_timeout: likewise
			return chronicle.ErrUnavailable
		}
		// Other server errors (a failed login, a missing database, a
		// constraint) are answers, not outages.
		return nil
	}
	// A failed connect (*pgconn.ConnectError) is an outage only when what
	// failed was the network: a misspelled host, TLS refused or a bad
	// certificate are mistakes that no retry mends.
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return nil
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne), // refused, reset, unreachable, timed out
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), // the server went away mid-reply
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		pgconn.SafeToRetry(err): // nothing was sent: a connection closed before use
		return chronicle.ErrUnavailable
	}
	return nil
}
