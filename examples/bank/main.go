// Command bank shows an event-sourced bank account service on one SQLite
// file: accounts handled by an aggregate (open, deposit, withdraw, with
// overdrafts refused) and snapshots; a projection that keeps a table of
// balances in the same file, exactly once; a query right after a command
// that waits for the projection; and a command retried with its command
// ID after a lost reply, which writes nothing twice and returns the same
// result.
//
//	go run ./examples/bank              # in a temporary file
//	go run ./examples/bank bank.db      # in bank.db, kept across runs
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/registry"
	"github.com/chronicle-go/chronicle/sqlite"
)

// Events of an account. Event is the interface they share.
type (
	Event  interface{ isEvent() }
	Opened struct {
		Owner string `json:"owner"`
	}
	Deposited struct {
		Cents int64 `json:"cents"`
	}
	Withdrawn struct {
		Cents int64 `json:"cents"`
	}
)

func (Opened) isEvent()    {}
func (Deposited) isEvent() {}
func (Withdrawn) isEvent() {}

// Commands.
type (
	Command  any
	Open     struct{ Owner string }
	Deposit  struct{ Cents int64 }
	Withdraw struct{ Cents int64 }
)

// Account is the state an account's events fold into. It evolves and
// decides itself (aggregate.Options could take functions instead).
type Account struct {
	Open    bool   `json:"open"`
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
}

var (
	ErrOverdraft = errors.New("overdraft refused")
	ErrNotOpen   = errors.New("account not open")
)

// Evolve returns the account after e.
func (a Account) Evolve(e Event) Account {
	switch e := e.(type) {
	case Opened:
		a.Open, a.Owner = true, e.Owner
	case Deposited:
		a.Balance += e.Cents
	case Withdrawn:
		a.Balance -= e.Cents
	}
	return a
}

// Decide returns the events that c causes, or refuses it.
func (a Account) Decide(_ context.Context, c Command) ([]Event, error) {
	switch c := c.(type) {
	case Open:
		if a.Open {
			return nil, nil
		}
		return []Event{Opened{Owner: c.Owner}}, nil
	case Deposit:
		if !a.Open {
			return nil, ErrNotOpen
		}
		return []Event{Deposited{Cents: c.Cents}}, nil
	case Withdraw:
		if !a.Open {
			return nil, ErrNotOpen
		}
		if a.Balance < c.Cents {
			return nil, fmt.Errorf("%w: balance %d, withdrawal %d", ErrOverdraft, a.Balance, c.Cents)
		}
		return []Event{Withdrawn{Cents: c.Cents}}, nil
	}
	return nil, fmt.Errorf("unknown command %T", c)
}

func main() {
	path := ""
	if len(os.Args) > 1 {
		path = os.Args[1]
	} else {
		dir, err := os.MkdirTemp("", "bank")
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

	reg := registry.New(nil)
	for _, err := range []error{
		registry.Register[Opened](reg, "Opened"),
		registry.Register[Deposited](reg, "Deposited"),
		registry.Register[Withdrawn](reg, "Withdrawn"),
	} {
		if err != nil {
			return err
		}
	}
	accounts, err := aggregate.New(store, aggregate.Options[Account, Command, Event]{
		Category:  "account",
		Registry:  reg,
		Events:    []Event{Opened{}, Deposited{}, Withdrawn{}},
		Snapshots: aggregate.Every(50),
	})
	if err != nil {
		return err
	}
	defer accounts.Close()

	// The read model: a table of balances in the store's own file, kept by
	// a projection exactly once.
	db, err := sqlite.DB(store)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS balances (account TEXT PRIMARY KEY, owner TEXT, cents INTEGER NOT NULL)`); err != nil {
		return err
	}
	balances := projection.Projection{
		Name: "balances", Version: 1,
		Filter: chronicle.Filter{chronicle.StreamPrefix("account-")},
		SQL: func(ctx context.Context, tx *sql.Tx, b projection.Batch) error {
			events, err := reg.DecodeAll(b.Events, b.Replaying)
			if err != nil {
				return err
			}
			for _, ev := range events {
				var owner string
				var delta int64
				switch e := ev.Value.(type) {
				case Opened:
					owner = e.Owner
				case Deposited:
					delta = e.Cents
				case Withdrawn:
					delta = -e.Cents
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO balances (account, owner, cents) VALUES (?, ?, ?)
					ON CONFLICT (account) DO UPDATE SET cents = cents + excluded.cents,
					owner = CASE WHEN excluded.owner <> '' THEN excluded.owner ELSE owner END`,
					ev.Stream, owner, delta); err != nil {
					return err
				}
			}
			return nil
		},
	}
	runner, err := projection.New(store, &projection.Options{Logger: slog.New(slog.DiscardHandler)}, balances)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// Commands, each with an ID of its own (a request ID, say).
	id := fmt.Sprint("acct-", time.Now().UnixNano())
	for _, step := range []struct {
		cmdID string
		cmd   Command
	}{
		{id + "-open", Open{Owner: "Ada"}},
		{id + "-dep-1", Deposit{Cents: 10_000}},
		{id + "-wd-1", Withdraw{Cents: 2_500}},
	} {
		res, err := accounts.Handle(ctx, id, step.cmdID, step.cmd)
		if err != nil {
			return err
		}
		fmt.Printf("%-24T -> version %d, balance %d\n", step.cmd, res.Version, res.State.Balance)
	}

	// An overdraft is refused, and nothing is written.
	if _, err := accounts.Handle(ctx, id, id+"-wd-2", Withdraw{Cents: 1_000_000}); errors.Is(err, ErrOverdraft) {
		fmt.Println("withdraw 1,000,000 -> refused:", err)
	} else {
		return fmt.Errorf("the overdraft was not refused: %v", err)
	}

	// A withdrawal whose reply is lost on the way to the client, which
	// retries it with the same command ID: the retry finds the command's
	// event and returns the same outcome; it is not decided again.
	first, err := accounts.Handle(ctx, id, id+"-wd-3", Withdraw{Cents: 7_000})
	if err != nil {
		return err
	}
	retry, err := accounts.Handle(ctx, id, id+"-wd-3", Withdraw{Cents: 7_000})
	if err != nil {
		return fmt.Errorf("the retry failed: %w", err)
	}
	fmt.Printf("withdraw 7,000 -> version %d; retried -> version %d, duplicate %v\n", first.Version, retry.Version, retry.Duplicate)
	if retry.Version != first.Version || !retry.Duplicate {
		return errors.New("the retry did not return the first outcome")
	}

	// Read-your-writes: wait until the projection has the last event, then
	// query the read model.
	if err := runner.WaitFor(ctx, first.Positions[len(first.Positions)-1], "balances"); err != nil {
		return err
	}
	var owner string
	var cents int64
	if err := db.QueryRowContext(ctx, `SELECT owner, cents FROM balances WHERE account = ?`, accounts.Stream(id)).Scan(&owner, &cents); err != nil {
		return err
	}
	loaded, err := accounts.Load(ctx, id)
	if err != nil {
		return err
	}
	fmt.Printf("read model: %s has %d; the aggregate says %d at version %d\n", owner, cents, loaded.State.Balance, loaded.Version)
	if cents != loaded.State.Balance || cents != 500 {
		return fmt.Errorf("the read model holds %d, the aggregate %d; want 500", cents, loaded.State.Balance)
	}
	return nil
}
