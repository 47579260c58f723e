package projection_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/sqlite"
	"go.uber.org/goleak"
)

// The test binary re-executes itself as a child process that runs the
// balances projection (and, for the crash test, appends events) when
// envChild is set.
const (
	envChild  = "CHRONICLE_TEST_PROJ_CHILD"  // "crash" or "runner"
	envPath   = "CHRONICLE_TEST_PROJ_PATH"   // SQLite file
	envSchema = "CHRONICLE_TEST_PROJ_SCHEMA" // PostgreSQL schema (URL from CHRONICLE_TEST_POSTGRES_URL)
	envOwner  = "CHRONICLE_TEST_PROJ_OWNER"
	childTTL  = 300 * time.Millisecond // the children's LeaseTTL
)

func TestMain(m *testing.M) {
	if role := os.Getenv(envChild); role != "" {
		if err := child(role); err != nil {
			fmt.Fprintf(os.Stderr, "projection child: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// childEnv opens the store the parent names, as the parent's env does.
func childEnv() (*env, error) {
	e := &env{}
	ctx := context.Background()
	if schema := os.Getenv(envSchema); schema != "" {
		s, err := postgres.Open(ctx, os.Getenv("CHRONICLE_TEST_POSTGRES_URL"), &postgres.Options{Schema: schema, MaxConns: 8, PollInterval: 10 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		e.store, e.schema = s, schema
		e.db, _ = postgres.DB(s)
		return e, nil
	}
	s, err := sqlite.Open(ctx, os.Getenv(envPath), &sqlite.Options{PollInterval: 5 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	e.store = s
	e.db, _ = sqlite.DB(s)
	return e, nil
}

// child runs until it is killed: the balances projection and, in the crash
// role, a writer appending to 20 streams in batches of 1 to 5.
func child(role string) error {
	e, err := childEnv()
	if err != nil {
		return err
	}
	m := &balances{e: e, table: "bal"}
	r, err := projection.New(e.store, &projection.Options{
		Logger:    slog.New(slog.DiscardHandler),
		LeaseTTL:  childTTL,
		BatchSize: 37,
		Owner:     os.Getenv(envOwner),
	}, projection.Projection{Name: "balances", Version: 1, SQL: m.handle})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if role == "crash" {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
			for {
				n := 1 + rng.IntN(5)
				batch := make([]chronicle.EventData, n)
				for i := range batch {
					batch[i] = chronicle.EventData{Type: "Deposited", Data: []byte(strconv.Itoa(1 + rng.IntN(100)))}
				}
				if _, err := e.store.Append(ctx, fmt.Sprintf("acct-%d", rng.IntN(20)), chronicle.Any, batch...); err != nil {
					fmt.Fprintf(os.Stderr, "append: %v\n", err)
				}
			}
		}()
	}
	return r.Run(ctx)
}

// spawn starts a child of the given role on e's store.
func spawn(t *testing.T, e *env, role, owner string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+role, envOwner+"="+owner)
	if e.schema != "" {
		cmd.Env = append(cmd.Env, envSchema+"="+e.schema)
	} else {
		cmd.Env = append(cmd.Env, envPath+"="+e.path)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// TestExactlyOnceUnderCrashes kills a child that appends and projects, at
// random moments, 25 times; then the read model must equal the fold of
// every event, each applied exactly once, and equal a fresh projection
// built from scratch.
func TestExactlyOnceUnderCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: kills child processes 25 times")
	}
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "bal"}
		m.create(t, 1)
		fresh := &balances{e: e, table: "fresh"}
		fresh.create(t, 1)
		rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
		const kills = 25
		for i := range kills {
			cmd := spawn(t, e, "crash", "crash-"+strconv.Itoa(i))
			time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond)
			kill(t, cmd)
		}
		// Finish the projection here (the dead child's lease runs out), and
		// build a fresh one from scratch beside it.
		opts := fast()
		r := newRunner(t, e.store, opts,
			projection.Projection{Name: "balances", Version: 1, SQL: m.handle},
			projection.Projection{Name: "fresh", Version: 1, SQL: fresh.handle})
		start(t, r)
		// A killed child's last append may still commit after the kill on
		// PostgreSQL (the server got its COMMIT): wait until the head stays
		// where it is.
		var head chronicle.Position
		for {
			h, err := e.store.Head(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, r, h)
			if h == head {
				break
			}
			head = h
			time.Sleep(100 * time.Millisecond)
		}
		want := expected(t, e.store, nil, nil)
		var events int
		for _, v := range want {
			var n, total int
			fmt.Sscanf(v, "%d/%d", &n, &total)
			events += n
		}
		if events < 100 {
			t.Fatalf("only %d events were appended by the children", events)
		}
		if got := m.rows(t, 1); !maps.Equal(got, want) {
			m.explain(t, 1)
			t.Fatalf("read model after %d kills: %v, want %v", kills, got, want)
		}
		if got := fresh.rows(t, 1); !maps.Equal(got, want) {
			t.Fatalf("fresh read model: %v, want %v", got, want)
		}
		m.checkOnce(t, 1, events)
		fresh.checkOnce(t, 1, events)
		t.Logf("%d events, %d kills", events, kills)
	})
}

// TestTwoProcessesTakeOver runs the projection in two child processes at
// once, kills the one that holds it midway, and checks that the other takes
// over within the lease bound and that every event is applied exactly once.
func TestTwoProcessesTakeOver(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs child processes")
	}
	backends(t, func(t *testing.T, e *env) {
		m := &balances{e: e, table: "bal"}
		m.create(t, 1)
		a := spawn(t, e, "runner", "proc-a")
		b := spawn(t, e, "runner", "proc-b")
		procs := map[string]*exec.Cmd{"proc-a": a, "proc-b": b}
		t.Cleanup(func() {
			for _, c := range procs {
				kill(t, c)
			}
		})
		// An observer in this process: WaitFor reads the checkpoint the
		// children store.
		obs := newRunner(t, e.store, fast(), projection.Projection{Name: "balances", Version: 1, SQL: m.handle})
		last := appendN(t, e.store, "acct", 10, 300, "Deposited")
		waitFor(t, obs, last)
		holder := status(t, obs, "balances", 1).Owner
		if procs[holder] == nil {
			t.Fatalf("owner %q is not a child", holder)
		}
		// Kill the holder in the middle of more appends, and time how long
		// the projection stays without a live owner.
		table := "chronicle_projections"
		if e.schema != "" {
			table = e.schema + ".projections"
		}
		owner := func() string {
			var o string
			if err := e.db.QueryRowContext(context.Background(), "SELECT owner FROM "+table).Scan(&o); err != nil {
				t.Fatal(err)
			}
			return o
		}
		var killed time.Time
		for i := range 100 {
			appendN(t, e.store, "acct", 10, 1, "Deposited")
			if i == 50 {
				kill(t, procs[holder])
				killed = time.Now()
				delete(procs, holder)
			}
		}
		var survivor string
		for survivor = owner(); survivor == holder; survivor = owner() {
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(killed)
		if procs[survivor] == nil {
			t.Fatalf("after the kill the owner is %q", survivor)
		}
		// The bound: the dead holder's lease runs out at most LeaseTTL
		// after its last renewal, and the survivor tries every third of
		// it. The test allows a second more for a loaded machine.
		bound := childTTL + childTTL/3
		if took > bound+time.Second {
			t.Errorf("takeover took %v, the bound is %v", took, bound)
		}
		t.Logf("takeover by %s %v after the kill (bound %v)", survivor, took, bound)
		last = appendN(t, e.store, "acct", 10, 1, "Deposited")
		waitFor(t, obs, last)
		if got, want := m.rows(t, 1), expected(t, e.store, nil, nil); !maps.Equal(got, want) {
			t.Fatalf("read model %v, want %v", got, want)
		}
		m.checkOnce(t, 1, 401)
	})
}
