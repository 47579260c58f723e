package aggregate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/sqlite"
)

// benchStore opens a store for a benchmark: SQLite in a file, or
// PostgreSQL (skipped without CHRONICLE_TEST_POSTGRES_URL).
func benchStore(b *testing.B, backend string) *chronicle.Store {
	b.Helper()
	ctx := context.Background()
	var s *chronicle.Store
	var err error
	switch backend {
	case "sqlite":
		s, err = sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
	case "postgres":
		url := os.Getenv("CHRONICLE_TEST_POSTGRES_URL")
		if url == "" {
			b.Skip("CHRONICLE_TEST_POSTGRES_URL is not set")
		}
		schema := fmt.Sprintf("aggbench_%d", time.Now().UnixNano())
		s, err = postgres.Open(ctx, url, &postgres.Options{Schema: schema})
		if err == nil {
			b.Cleanup(func() {
				_ = s.Close()
				dropSchema(url, schema)
			})
			return s
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkCommand measures Aggregate.Handle: load (a snapshot saved every
// 50 events, then the events after it), decide, append with the exact
// version, on 100 accounts of 120 events each to start with. "1-client"
// handles one command at a time and reports the latency; "16-clients"
// runs 16 clients on distinct accounts and reports commands per second.
func BenchmarkCommand(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/%d-clients", backend, clients), func(b *testing.B) {
				s := benchStore(b, backend)
				o := options(b)
				o.Snapshots = aggregate.Every(50)
				a, err := aggregate.New(s, o)
				if err != nil {
					b.Fatal(err)
				}
				defer a.Close()
				ctx := context.Background()
				const accounts = 96
				for i := range accounts {
					id := strconv.Itoa(i)
					if _, err := a.Handle(ctx, id, "", Open{Owner: "o"}); err != nil {
						b.Fatal(err)
					}
					for range 119 {
						if _, err := a.Handle(ctx, id, "", Deposit{Cents: 1}); err != nil {
							b.Fatal(err)
						}
					}
				}
				lat := make([][]time.Duration, clients)
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for c := range clients {
					wg.Go(func() {
						for i := c; i < b.N; i += clients {
							// Client c keeps to accounts c, c+clients, …
							id := strconv.Itoa((c + clients*(i/clients)) % accounts)
							if clients > 1 {
								id = strconv.Itoa(c + clients*((i/clients)%(accounts/clients)))
							}
							t0 := time.Now()
							if _, err := a.Handle(ctx, id, fmt.Sprintf("c%d-%d", c, i), Deposit{Cents: 1}); err != nil {
								b.Error(err)
								return
							}
							lat[c] = append(lat[c], time.Since(t0))
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) == 0 {
					return
				}
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
				b.ReportMetric(float64(len(all))/elapsed.Seconds(), "commands/s")
			})
		}
	}
}
