package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connection refused"}}
	tests := []struct {
		name string
		err  error
		want error // nil: no sentinel
	}{
		{"disk full", pg("53100"), chronicle.ErrStorageFull},
		{"read-only transaction", pg("25006"), chronicle.ErrReadOnly},
		{"lock not available", pg("55P03"), chronicle.ErrBusy},
		{"deadlock", pg("40P01"), chronicle.ErrBusy},
		{"serialization failure", pg("40001"), chronicle.ErrBusy},
		{"too many connections", pg("53300"), chronicle.ErrBusy},
		{"admin shutdown", pg("57P01"), chronicle.ErrUnavailable},
		{"crash shutdown", pg("57P02"), chronicle.ErrUnavailable},
		{"starting up", pg("57P03"), chronicle.ErrUnavailable},
		{"connection failure", pg("08006"), chronicle.ErrUnavailable},
		{"connection does not exist", pg("08003"), chronicle.ErrUnavailable},
		{"failed login", pg("28P01"), nil},
		{"missing database", pg("3D000"), nil},
		{"unique violation", pg("23505"), nil},
		{"protocol violation", pg("08P01"), nil},
		{"idle session timeout", pg("57P05"), chronicle.ErrUnavailable},
		{"idle in transaction timeout", pg("25P03"), chronicle.ErrUnavailable},
		{"dial refused", fmt.Errorf("x: %w", refused), chronicle.ErrUnavailable},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), chronicle.ErrUnavailable},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), chronicle.ErrUnavailable},
		{"EOF mid-reply", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), chronicle.ErrUnavailable},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), nil},
		{"canceled on a dial", fmt.Errorf("%w: %w", context.Canceled, refused), nil},
		{"deadline", context.DeadlineExceeded, nil},
		{"plain", errors.New("something else"), nil},
		{"nil", nil, nil},
	}
	sentinels := []error{chronicle.ErrStorageFull, chronicle.ErrReadOnly, chronicle.ErrBusy, chronicle.ErrUnavailable}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := interpret(tc.err)
			if !errors.Is(got, tc.err) {
				t.Errorf("interpret(%v) = %v lost the original error", tc.err, got)
			}
			for _, s := range sentinels {
				if errors.Is(got, s) != (s == tc.want) {
					t.Errorf("interpret(%v) = %v; matches %v: %v, want %v", tc.err, got, s, errors.Is(got, s), s == tc.want)
				}
			}
		})
	}
}
