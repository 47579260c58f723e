package projection_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"log/slog"
	"strconv"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/sqlite"
)

// A read model of account balances in the store's own SQLite database,
// kept exactly once, and a query right after a deposit.
func Example() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, "", nil) // in memory; a file name keeps it
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	db, err := sqlite.DB(store)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE balances (account TEXT PRIMARY KEY, cents INTEGER NOT NULL)`); err != nil {
		log.Fatal(err)
	}

	runner, err := projection.New(store, &projection.Options{Logger: slog.New(slog.DiscardHandler)}, projection.Projection{
		Name:    "balances",
		Version: 1,
		Filter:  chronicle.Filter{chronicle.TypeIs("Deposited")},
		SQL: func(ctx context.Context, tx *sql.Tx, b projection.Batch) error {
			for _, ev := range b.Events {
				cents, err := strconv.Atoi(string(ev.Data))
				if err != nil {
					return err
				}
				_, err = tx.ExecContext(ctx, `INSERT INTO balances (account, cents) VALUES (?, ?)
					ON CONFLICT (account) DO UPDATE SET cents = cents + excluded.cents`, ev.Stream, cents)
				if err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- runner.Run(runCtx) }()
	defer func() { stop(); <-done }()

	for _, cents := range []string{"1000", "250"} {
		res, err := store.Append(ctx, "account-42", chronicle.Any, chronicle.EventData{Type: "Deposited", Data: []byte(cents)})
		if err != nil {
			log.Fatal(err)
		}
		// Read-your-writes: wait until the projection has committed the
		// deposit, then query.
		if err := runner.WaitFor(ctx, res.Positions[0], "balances"); err != nil {
			log.Fatal(err)
		}
		var balance int
		if err := db.QueryRowContext(ctx, `SELECT cents FROM balances WHERE account = ?`, "account-42").Scan(&balance); err != nil {
			log.Fatal(err)
		}
		fmt.Println("balance:", balance)
	}
	// Output:
	// balance: 1000
	// balance: 1250
}
