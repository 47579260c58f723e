package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/registry"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/jackc/pgx/v5"
)

// A bank account: the state, its events and its commands.

type Account struct {
	Open    bool   `json:"open"`
	Owner   string `json:"owner"`
	Balance int64  `json:"balance"`
}

type Event interface{ isEvent() }

type Opened struct {
	Owner string `json:"owner"`
}
type Deposited struct {
	Cents int64 `json:"cents"`
}
type Withdrawn struct {
	Cents int64 `json:"cents"`
}

func (Opened) isEvent()    {}
func (Deposited) isEvent() {}
func (Withdrawn) isEvent() {}

type Command interface{}

type Open struct{ Owner string }
type Deposit struct{ Cents int64 }
type Withdraw struct{ Cents int64 }

var (
	errOverdraft = errors.New("overdraft refused")
	errNotOpen   = errors.New("account not open")
)

func evolve(a Account, e Event) Account {
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

func decide(_ context.Context, a Account, c Command) ([]Event, error) {
	switch c := c.(type) {
	case Open:
		if a.Open {
			return nil, nil // opening twice changes nothing
		}
		return []Event{Opened{Owner: c.Owner}}, nil
	case Deposit:
		if !a.Open {
			return nil, errNotOpen
		}
		return []Event{Deposited{Cents: c.Cents}}, nil
	case Withdraw:
		if !a.Open {
			return nil, errNotOpen
		}
		if a.Balance < c.Cents {
			return nil, fmt.Errorf("%w: balance %d, withdrawal %d", errOverdraft, a.Balance, c.Cents)
		}
		return []Event{Withdrawn{Cents: c.Cents}}, nil
	}
	return nil, fmt.Errorf("unknown command %T", c)
}

func newRegistry(t testing.TB) *registry.Registry {
	r := registry.New(nil)
	registry.MustRegister[Opened](r, "Opened")
	registry.MustRegister[Deposited](r, "Deposited")
	registry.MustRegister[Withdrawn](r, "Withdrawn")
	return r
}

func options(t testing.TB) aggregate.Options[Account, Command, Event] {
	return aggregate.Options[Account, Command, Event]{Category: "account", Registry: newRegistry(t), Evolve: evolve, Decide: decide}
}

func newAggregate(t testing.TB, s *chronicle.Store, o aggregate.Options[Account, Command, Event]) *aggregate.Aggregate[Account, Command, Event] {
	t.Helper()
	a, err := aggregate.New(s, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// stores runs f on a SQLite store in a file, and on PostgreSQL when
// CHRONICLE_TEST_POSTGRES_URL is set.
func stores(t *testing.T, f func(t *testing.T, s *chronicle.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		f(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		url := os.Getenv("CHRONICLE_TEST_POSTGRES_URL")
		if url == "" {
			t.Skip("CHRONICLE_TEST_POSTGRES_URL is not set: no PostgreSQL to test against " +
				"(e.g. CHRONICLE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test)")
		}
		schema := fmt.Sprintf("agg_%d", time.Now().UnixNano())
		s, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = s.Close()
			dropSchema(url, schema)
		})
		f(t, s)
	})
}

func handle(t *testing.T, a *aggregate.Aggregate[Account, Command, Event], id, cmdID string, c Command) aggregate.Result[Account, Event] {
	t.Helper()
	res, err := a.Handle(context.Background(), id, cmdID, c)
	if err != nil {
		t.Fatalf("Handle(%s, %q, %#v): %v", id, cmdID, c, err)
	}
	return res
}

// fold folds the stream of id from scratch, as a check: the state, the
// number of events, and the lowest balance the account ever had.
func fold(t *testing.T, s *chronicle.Store, id string) (state Account, n, low int64) {
	t.Helper()
	r := newRegistry(t)
	for ev, err := range s.Read(context.Background(), "account-"+id, 0, nil) {
		if err != nil {
			t.Fatal(err)
		}
		v, err := r.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		state = evolve(state, v.(Event))
		n++
		low = min(low, state.Balance)
	}
	return state, n, low
}

// TestConcurrentCommands: 16 goroutines send commands to one account;
// every command succeeds or fails with an overdraft or, after its retries,
// a conflict; the events written are exactly those of the commands that
// succeeded, the state is their fold, and the balance never went below
// zero (each withdrawal was decided on the state it was appended to).
func TestConcurrentCommands(t *testing.T) {
	stores(t, func(t *testing.T, s *chronicle.Store) {
		o := options(t)
		o.Retries = 50
		a := newAggregate(t, s, o)
		handle(t, a, "1", "open", Open{Owner: "ann"})
		const writers, each = 16, 15
		var wg sync.WaitGroup
		var mu sync.Mutex
		var balance, written int64
		var failures []error
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					var c Command = Deposit{Cents: 10}
					if (w+i)%2 == 0 {
						c = Withdraw{Cents: 25}
					}
					res, err := a.Handle(context.Background(), "1", fmt.Sprintf("w%d-%d", w, i), c)
					mu.Lock()
					switch {
					case err == nil:
						written += int64(len(res.Events))
						for _, e := range res.Events {
							balance = evolve(Account{Balance: balance}, e).Balance
						}
					case errors.Is(err, errOverdraft), errors.Is(err, chronicle.ErrConflict):
					default:
						failures = append(failures, err)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, err := range failures {
			t.Error(err)
		}
		state, n, low := fold(t, s, "1")
		if low < 0 {
			t.Fatalf("the balance went down to %d: a withdrawal was not decided on the state it was appended to", low)
		}
		if n != written+1 || state.Balance != balance {
			t.Fatalf("stream: %d events, balance %d; commands reported %d events, balance %d", n, state.Balance, written+1, balance)
		}
		l, err := a.Load(context.Background(), "1")
		if err != nil || l.State != state || l.Version != n {
			t.Fatalf("Load = %+v, %v; want %+v at version %d", l, err, state, n)
		}
	})
}

// TestRetriedCommand: a command retried with its command ID, after its
// reply was lost, returns its original outcome and writes nothing, even
// when deciding it again would now be refused; so does a command whose
// events a lost commit did store.
func TestRetriedCommand(t *testing.T) {
	stores(t, func(t *testing.T, s *chronicle.Store) {
		a := newAggregate(t, s, options(t))
		ctx := context.Background()
		handle(t, a, "7", "open-7", Open{Owner: "bo"})
		handle(t, a, "7", "dep-1", Deposit{Cents: 100})
		first := handle(t, a, "7", "wd-1", Withdraw{Cents: 80})
		again := handle(t, a, "7", "wd-1", Withdraw{Cents: 80}) // the reply was lost
		if !again.Duplicate || again.Version != first.Version || fmt.Sprint(again.Positions) != fmt.Sprint(first.Positions) ||
			fmt.Sprint(again.Events) != fmt.Sprint(first.Events) {
			t.Fatalf("retry = %+v; first %+v", again, first)
		}
		if state, n, _ := fold(t, s, "7"); state.Balance != 20 || n != 3 {
			t.Fatalf("balance %d after %d events; want 20 after 3", state.Balance, n)
		}
		// Without the command ID, the same withdrawal is decided again.
		if _, err := a.Handle(ctx, "7", "", Withdraw{Cents: 80}); !errors.Is(err, errOverdraft) {
			t.Fatalf("a new withdrawal: %v, want the overdraft refused", err)
		}
		// A commit whose reply was lost: its events are there, written by
		// an earlier attempt, and the retry finds them.
		r := newRegistry(t)
		ed, _ := r.Encode(Withdrawn{Cents: 5})
		ed.ID = "wd-2/0"
		res, err := s.Append(ctx, "account-7", chronicle.Exactly(3), ed)
		if err != nil {
			t.Fatal(err)
		}
		got := handle(t, a, "7", "wd-2", Withdraw{Cents: 5})
		if !got.Duplicate || got.Version != 4 || got.Positions[0] != res.Positions[0] {
			t.Fatalf("after a lost commit: %+v", got)
		}
		if state, n, _ := fold(t, s, "7"); state.Balance != 15 || n != 4 {
			t.Fatalf("balance %d after %d events; want 15 after 4", state.Balance, n)
		}
	})
}

// TestSnapshots: snapshots change how many events a load folds, never
// the state; a new state version ignores the old snapshots, and an
// unreadable snapshot is ignored.
func TestSnapshots(t *testing.T) {
	stores(t, func(t *testing.T, s *chronicle.Store) {
		ctx := context.Background()
		o := options(t)
		o.Snapshots = aggregate.Every(5)
		a := newAggregate(t, s, o)
		handle(t, a, "9", "", Open{Owner: "cy"})
		for i := range 23 {
			handle(t, a, "9", fmt.Sprint("d", i), Deposit{Cents: int64(i)})
		}
		if err := a.Close(); err != nil { // waits for the saves in flight
			t.Fatal(err)
		}
		want, n, _ := fold(t, s, "9")
		l, err := a.Load(ctx, "9")
		if err != nil || l.State != want || l.Version != n || l.Replayed >= 5 {
			t.Fatalf("Load = %+v, %v; want %+v at %d from a recent snapshot", l, err, want, n)
		}
		plain := newAggregate(t, s, options(t))
		if l2, err := plain.Load(ctx, "9"); err != nil || l2.State != want || l2.Replayed != n {
			t.Fatalf("without snapshots: %+v, %v", l2, err)
		}
		o2 := o
		o2.StateVersion = 2
		v2 := newAggregate(t, s, o2)
		if l3, err := v2.Load(ctx, "9"); err != nil || l3.State != want || l3.Replayed != n {
			t.Fatalf("state version 2 loaded %+v, %v; want every event folded", l3, err)
		}
		if err := s.SaveSnapshot(ctx, "account-9", "aggregate/account/state-v1", n, []byte("not json")); err != nil {
			t.Fatal(err)
		}
		if l4, err := a.Load(ctx, "9"); err != nil || l4.State != want || l4.Replayed != n {
			t.Fatalf("after an unreadable snapshot: %+v, %v", l4, err)
		}
	})
}

// MethodAccount decides and evolves itself.
type MethodAccount struct{ Balance int64 }

func (m MethodAccount) Evolve(e Event) MethodAccount {
	if d, ok := e.(Deposited); ok {
		m.Balance += d.Cents
	}
	return m
}

func (m MethodAccount) Decide(_ context.Context, c Deposit) ([]Event, error) {
	return []Event{Deposited{Cents: c.Cents}}, nil
}

func TestMethods(t *testing.T) {
	s, err := sqlite.Open(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := aggregate.New(s, aggregate.Options[MethodAccount, Deposit, Event]{Category: "m", Registry: newRegistry(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for range 3 {
		if _, err := a.Handle(context.Background(), "1", "", Deposit{Cents: 4}); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := a.Load(context.Background(), "1"); err != nil || l.State.Balance != 12 {
		t.Fatalf("Load = %+v, %v", l, err)
	}
	// A state without the methods, and no functions: refused.
	if _, err := aggregate.New(s, aggregate.Options[Account, Command, Event]{Category: "x", Registry: newRegistry(t)}); !errors.Is(err, chronicle.ErrInvalid) {
		t.Fatalf("New without Evolve: %v", err)
	}
}

// Unregistered is an event type the registry does not know.
type Unregistered struct{}

func (Unregistered) isEvent() {}

func TestInvalid(t *testing.T) {
	s, err := sqlite.Open(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	o := options(t)
	o.Decide = func(_ context.Context, a Account, c Command) ([]Event, error) {
		if _, ok := c.(Open); ok {
			return []Event{Opened{}, Unregistered{}}, nil
		}
		return decide(ctx, a, c)
	}
	a := newAggregate(t, s, o)
	for _, tc := range []struct {
		name, id, cmdID string
		c               Command
		want            error
	}{
		{"empty ID", "", "", Deposit{}, chronicle.ErrInvalid},
		{"ID with a control character", "a\x01", "", Deposit{}, chronicle.ErrInvalid},
		{"command ID too long", "1", strings.Repeat("c", chronicle.MaxIDLen), Deposit{}, chronicle.ErrInvalid},
		{"refused by Decide", "1", "", Deposit{Cents: 1}, errNotOpen},
		{"unregistered event", "1", "", Open{}, registry.ErrUnknownType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.Handle(ctx, tc.id, tc.cmdID, tc.c); !errors.Is(err, tc.want) {
				t.Fatalf("Handle = %v, want %v", err, tc.want)
			}
		})
	}
	if st, err := s.Stats(ctx); err != nil || st.Events != 0 {
		t.Fatalf("%d events written by refused commands (%v)", st.Events, err)
	}
	o.Events = []Event{Opened{}, Unregistered{}}
	if _, err := aggregate.New(s, o); !errors.Is(err, registry.ErrUnknownType) {
		t.Errorf("New with an unregistered event type listed: %v", err)
	}
	for _, o := range []aggregate.Options[Account, Command, Event]{
		{Category: "account", Evolve: evolve, Decide: decide},
		{Category: "", Registry: newRegistry(t), Evolve: evolve, Decide: decide},
		{Category: "bad\x00", Registry: newRegistry(t), Evolve: evolve, Decide: decide},
	} {
		if _, err := aggregate.New(s, o); !errors.Is(err, chronicle.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want ErrInvalid", o, err)
		}
	}
}

// dropSchema drops a test schema once its store is closed.
func dropSchema(url, schema string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
}

// TestSameCommandConcurrently: two clients send the same command (same
// ID) at once, as when a retry overtakes the original: one applies it,
// the other returns that outcome, never a refusal decided on a state that
// already holds the command's effect, and its events are written once.
// Growing withdrawals make a second decision differ from the first (two
// events once the balance is low), which must not leave a mix either.
func TestSameCommandConcurrently(t *testing.T) {
	stores(t, func(t *testing.T, s *chronicle.Store) {
		o := options(t)
		o.Retries = 50
		o.Decide = func(ctx context.Context, a Account, c Command) ([]Event, error) {
			evs, err := decide(ctx, a, c)
			if w, ok := c.(Withdraw); ok && err == nil && a.Balance-w.Cents < 50 {
				evs = append(evs, Deposited{Cents: 1}) // a second event, only on some states
			}
			return evs, err
		}
		a := newAggregate(t, s, o)
		for trial := range 40 {
			id := fmt.Sprint("same-", trial)
			handle(t, a, id, "", Open{Owner: "x"})
			handle(t, a, id, "", Deposit{Cents: 100})
			var wg sync.WaitGroup
			results := make([]aggregate.Result[Account, Event], 2)
			errs := make([]error, 2)
			for c := range 2 {
				wg.Go(func() {
					results[c], errs[c] = a.Handle(context.Background(), id, "wd", Withdraw{Cents: 80})
				})
			}
			wg.Wait()
			for c := range 2 {
				if errs[c] != nil {
					t.Fatalf("trial %d, client %d: %v", trial, c, errs[c])
				}
			}
			if results[0].Version != results[1].Version || fmt.Sprint(results[0].Positions) != fmt.Sprint(results[1].Positions) {
				t.Fatalf("trial %d: outcomes differ: %+v and %+v", trial, results[0], results[1])
			}
			state, n, _ := fold(t, s, id)
			if n != 2+int64(len(results[0].Events)) || state.Balance != 100-80+int64(len(results[0].Events)-1) {
				t.Fatalf("trial %d: %d events, balance %d; the command's outcome %+v", trial, n, state.Balance, results[0])
			}
		}
	})
}
