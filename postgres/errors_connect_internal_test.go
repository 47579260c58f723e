package postgres

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/jackc/pgx/v5"
)

// Real failed connects: nothing listening is an outage; a host that does
// not exist is a mistake.
func TestClassifyConnect(t *testing.T) {
	tests := []struct {
		name, url   string
		unavailable bool
	}{
		{"nothing listening", "postgres://postgres@127.0.0.1:1/test?connect_timeout=5", true},
		{"no such host", "postgres://postgres@no-such-host.invalid:5432/test?connect_timeout=5", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, tc.url)
			if err == nil {
				conn.Close(ctx)
				t.Skip("connected: the address is in use here")
			}
			if dns := (*net.DNSError)(nil); errors.As(err, &dns) && !dns.IsNotFound {
				t.Skipf("the resolver could not answer (%v): not a missing host", err)
			}
			got := interpret(err)
			if errors.Is(got, chronicle.ErrUnavailable) != tc.unavailable {
				t.Errorf("interpret(%v) = %v; unavailable: %v, want %v", err, got, !tc.unavailable, tc.unavailable)
			}
		})
	}
}
