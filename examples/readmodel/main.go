// Command readmodel shows a read model kept in the event store's own SQLite
// file: a projection that maintains a table of account balances exactly
// once, a query right after a command that waits for the projection
// (read-your-writes), and a rebuild to a new version of the projection
// while queries go on against the old one.
//
//	go run ./examples/readmodel              # in a temporary file
//	go run ./examples/readmodel bank.db      # in bank.db, kept across runs
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/sqlite"
)

// movement is the payload of the Deposited and Withdrawn events.
type movement struct {
	Cents int64 `json:"cents"`
}

func main() {
	path := ""
	if len(os.Args) > 1 {
		path = os.Args[1]
	} else {
		dir, err := os.MkdirTemp("", "readmodel")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "bank.db")
	}
	if err := run(context.Background(), path); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, path string) error {
	store, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	// The read model lives in the same file, written with database/sql.
	db, err := sqlite.DB(store)
	if err != nil {
		return err
	}
	for _, ddl := range []string{
		`CREATE TABLE IF NOT EXISTS balances_v1 (account TEXT PRIMARY KEY, cents INTEGER NOT NULL)`,
		// Version 2 also counts the movements of each account.
		`CREATE TABLE IF NOT EXISTS balances_v2 (account TEXT PRIMARY KEY, cents INTEGER NOT NULL, movements INTEGER NOT NULL)`,
	} {
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			return err
		}
	}
	quiet := slog.New(slog.DiscardHandler)

	// Version 1 of the projection, running while a small workload appends.
	r1, err := projection.New(store, &projection.Options{Logger: quiet}, balances(1))
	if err != nil {
		return err
	}
	stop1 := start(ctx, r1)
	for i := range 3000 {
		account := fmt.Sprintf("account-%d", i%20)
		typ, cents := "Deposited", int64(100+i)
		if i%3 == 2 {
			typ, cents = "Withdrawn", 50
		}
		if _, err := appendMovement(ctx, store, account, typ, cents); err != nil {
			return err
		}
	}

	// Read-your-writes: a deposit, then a query that sees it.
	res, err := appendMovement(ctx, store, "account-7", "Deposited", 10_000)
	if err != nil {
		return err
	}
	if err := r1.WaitFor(ctx, res.Positions[0], "balances"); err != nil {
		return err
	}
	cents, err := balance(ctx, db, 1, "account-7")
	if err != nil {
		return err
	}
	fmt.Printf("after a deposit of 10000: account-7 holds %d cents (version 1)\n", cents)
	stop1()

	// Version 2: a new runner builds it from the start beside version 1,
	// which goes on serving queries until the switch.
	ready := make(chan struct{})
	r2, err := projection.New(store, &projection.Options{Logger: quiet, OnCaughtUp: func(name string, v int) {
		if v == 2 {
			close(ready)
		}
	}}, balances(2))
	if err != nil {
		return err
	}
	stop2 := start(ctx, r2)
	defer stop2()
	queries := 0
	for done := false; !done; {
		select {
		case <-ready:
			done = true
		default:
			if _, err := balance(ctx, db, 1, "account-7"); err != nil {
				return err
			}
			queries++
			time.Sleep(time.Millisecond)
		}
	}
	fmt.Printf("version 2 rebuilt while version 1 served %d queries\n", queries)
	if err := r2.Switch(ctx, "balances"); err != nil {
		return err
	}
	res, err = appendMovement(ctx, store, "account-7", "Withdrawn", 2_500)
	if err != nil {
		return err
	}
	if err := r2.WaitFor(ctx, res.Positions[0], "balances"); err != nil {
		return err
	}
	var movements int
	if err := db.QueryRowContext(ctx, `SELECT cents, movements FROM balances_v2 WHERE account = ?`, "account-7").Scan(&cents, &movements); err != nil {
		return err
	}
	fmt.Printf("after the switch and a withdrawal of 2500: account-7 holds %d cents in %d movements (version 2)\n", cents, movements)
	sts, err := r2.Status(ctx)
	if err != nil {
		return err
	}
	for _, st := range sts {
		fmt.Printf("projection %s v%d: %s, %s, checkpoint %s of %s, lag %d events\n",
			st.Name, st.Version, st.Stage, st.State, st.Checkpoint, st.Head, st.LagEvents)
	}
	return nil
}

// balances is the projection, in the given version: version 1 keeps the
// balance per account, version 2 also the number of movements.
func balances(version int) projection.Projection {
	return projection.Projection{
		Name:    "balances",
		Version: version,
		Filter:  chronicle.Filter{chronicle.StreamPrefix("account-"), chronicle.TypeIn("Deposited", "Withdrawn")},
		SQL: func(ctx context.Context, tx *sql.Tx, b projection.Batch) error {
			for _, ev := range b.Events {
				var m movement
				if err := json.Unmarshal(ev.Data, &m); err != nil {
					return err
				}
				if ev.Type == "Withdrawn" {
					m.Cents = -m.Cents
				}
				var err error
				switch b.Version {
				case 1:
					_, err = tx.ExecContext(ctx, `INSERT INTO balances_v1 (account, cents) VALUES (?, ?)
						ON CONFLICT (account) DO UPDATE SET cents = cents + excluded.cents`, ev.Stream, m.Cents)
				case 2:
					_, err = tx.ExecContext(ctx, `INSERT INTO balances_v2 (account, cents, movements) VALUES (?, ?, 1)
						ON CONFLICT (account) DO UPDATE SET cents = cents + excluded.cents, movements = movements + 1`, ev.Stream, m.Cents)
				default:
					err = fmt.Errorf("no table for version %d", b.Version)
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func appendMovement(ctx context.Context, store *chronicle.Store, account, typ string, cents int64) (chronicle.AppendResult, error) {
	data, err := json.Marshal(movement{Cents: cents})
	if err != nil {
		return chronicle.AppendResult{}, err
	}
	return store.Append(ctx, account, chronicle.Any, chronicle.EventData{Type: typ, Data: data})
}

func balance(ctx context.Context, db *sql.DB, version int, account string) (int64, error) {
	var cents int64
	err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT cents FROM balances_v%d WHERE account = ?`, version), account).Scan(&cents)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return cents, err
}

// start runs r in a goroutine; the function it returns stops it and waits.
func start(ctx context.Context, r *projection.Runner) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			log.Print(err)
		}
	}
}
