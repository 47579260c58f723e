package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
	"github.com/jackc/pgx/v5"
)

// The tests of this file prove the global order of the PostgreSQL store:
// whatever order transactions commit in, every subscriber gets every event
// exactly once, in position order, and positions never go backwards.

// rawAppend appends n events to stream inside the caller's transaction,
// the way the store does (same tables, same transaction ID and sequence),
// so that a test can hold the transaction open, delay or roll it back.
func rawAppend(ctx context.Context, tx pgx.Tx, schema, stream string, n int) error {
	// The stream's lock comes first, as in the store (see lockSQL).
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", schema+" "+stream); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `WITH s AS (
		INSERT INTO `+schema+`.streams AS t (name, version, first_ts, last_ts) VALUES ($1, $2, $3, $3)
		ON CONFLICT (name) DO UPDATE SET version = t.version + EXCLUDED.version, last_ts = EXCLUDED.last_ts
		RETURNING t.version)
	INSERT INTO `+schema+`.events (tx_id, stream, version, type, data, id, keyed, ts)
	SELECT pg_current_xact_id()::text::bigint, $1, s.version - $2 + g, 'Raw', ''::bytea, gen_random_uuid()::text, false, $3
	FROM s, generate_series(1, $2::bigint) g ORDER BY g`, stream, n, time.Now().UnixNano())
	return err
}

// tableOrder returns every event position in the schema, in the global
// order.
func tableOrder(t testing.TB, schema string) []chronicle.Position {
	t.Helper()
	rows, err := testPool(t).Query(context.Background(), "SELECT tx_id, seq FROM "+schema+".events ORDER BY tx_id, seq")
	if err != nil {
		t.Fatal(err)
	}
	var out []chronicle.Position
	var tx, seq int64
	_, err = pgx.ForEachRow(rows, []any{&tx, &seq}, func() error {
		out = append(out, chronicle.Position{Commit: uint64(tx), Prepare: uint64(seq)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkDelivered compares what a subscriber got with the table: every row
// exactly once, positions strictly increasing in delivery order.
func checkDelivered(t testing.TB, what string, got []chronicle.Event, table []chronicle.Position) {
	t.Helper()
	for i := 1; i < len(got); i++ {
		if !got[i-1].Position.Before(got[i].Position) {
			t.Fatalf("%s: position %v delivered after %v", what, got[i].Position, got[i-1].Position)
		}
	}
	if len(got) != len(table) {
		t.Fatalf("%s: %d events delivered, the table holds %d", what, len(got), len(table))
	}
	for i, ev := range got {
		if ev.Position != table[i] {
			t.Fatalf("%s: event %d delivered at %v, the table has %v there", what, i, ev.Position, table[i])
		}
	}
}

// subscriber collects a WatchAll until the test ends.
type subscriber struct {
	mu     sync.Mutex
	events []chronicle.Event
	err    error
	more   chan struct{} // signalled on each delivery
}

func subscribe(t testing.TB, s *chronicle.Store, from chronicle.Position) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub := &subscriber{more: make(chan struct{}, 1)}
	caught := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range s.WatchAll(ctx, from, &chronicle.WatchOptions{CaughtUp: func() { close(caught) }}) {
			sub.mu.Lock()
			if err != nil {
				sub.err = err
			} else {
				sub.events = append(sub.events, ev)
			}
			sub.mu.Unlock()
			select {
			case sub.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-caught:
	case <-done:
		t.Fatalf("watch ended before catching up: %v", sub.err)
	case <-time.After(time.Minute):
		t.Fatal("watch did not catch up within a minute")
	}
	return sub
}

// got returns a copy of what was delivered so far.
func (s *subscriber) got() []chronicle.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil && !errors.Is(s.err, context.Canceled) {
		panic(fmt.Sprintf("watch failed: %v", s.err))
	}
	return slices.Clone(s.events)
}

// waitFor waits until n events were delivered, and returns them and how
// long it took.
func (s *subscriber) waitFor(t testing.TB, n int, within time.Duration) ([]chronicle.Event, time.Duration) {
	t.Helper()
	start := time.Now()
	deadline := time.After(within)
	for {
		if got := s.got(); len(got) >= n {
			return got, time.Since(start)
		}
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("%d of %d events delivered within %v", len(s.got()), n, within)
		}
	}
}

// quiet fails the test when anything beyond n events is delivered during d.
func (s *subscriber) quiet(t testing.TB, n int, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	if got := s.got(); len(got) != n {
		t.Fatalf("%d events delivered, want %d: %v", len(got), n, positions(got))
	}
}

func positions(evs []chronicle.Event) []chronicle.Position {
	out := make([]chronicle.Position, len(evs))
	for i, ev := range evs {
		out[i] = ev.Position
	}
	return out
}

func begin(t testing.TB) pgx.Tx {
	t.Helper()
	tx, err := testPool(t).Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

func xid(t testing.TB, tx pgx.Tx) uint64 {
	t.Helper()
	var x int64
	if err := tx.QueryRow(context.Background(), "SELECT pg_current_xact_id()::text::bigint").Scan(&x); err != nil {
		t.Fatal(err)
	}
	return uint64(x)
}

func mustAppend(t testing.TB, s *chronicle.Store, stream string, n int) chronicle.AppendResult {
	t.Helper()
	evs := make([]chronicle.EventData, n)
	for i := range evs {
		evs[i] = chronicle.EventData{Type: "E"}
	}
	res, err := s.Append(context.Background(), stream, chronicle.Any, evs...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readAllT(t testing.TB, s *chronicle.Store, from chronicle.Position) []chronicle.Event {
	t.Helper()
	var out []chronicle.Event
	for ev, err := range s.ReadAll(context.Background(), from, nil) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// fast is the options of a store that polls often, so that tests of what
// is held back do not wait long.
func fast(schema string) *postgres.Options {
	return &postgres.Options{Schema: schema, MaxConns: 8, PollInterval: 20 * time.Millisecond}
}

// TestOutOfOrderCommit: A appends and holds its transaction open, B appends
// and commits: nothing is delivered; A commits: A's events, then B's.
func TestOutOfOrderCommit(t *testing.T) {
	schema := testSchema(t)
	s := openT(t, fast(schema))
	sub := subscribe(t, s, chronicle.Position{})
	ctx := context.Background()

	a, b := begin(t), begin(t)
	if err := rawAppend(ctx, a, schema, "a", 2); err != nil {
		t.Fatal(err)
	}
	if err := rawAppend(ctx, b, schema, "b", 3); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	sub.quiet(t, 0, 300*time.Millisecond)
	if got := readAllT(t, s, chronicle.Position{}); len(got) != 0 {
		t.Fatalf("ReadAll returned %d events while A was open, want none", len(got))
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := sub.waitFor(t, 5, 10*time.Second)
	checkDelivered(t, "subscriber", got, tableOrder(t, schema))
	for i, want := range []string{"a", "a", "b", "b", "b"} {
		if got[i].Stream != want {
			t.Fatalf("delivered streams %v, want A's two then B's three", streams(got))
		}
	}
	checkDelivered(t, "ReadAll", readAllT(t, s, chronicle.Position{}), tableOrder(t, schema))
}

func streams(evs []chronicle.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Stream
	}
	return out
}

// TestXidOrderDiffersFromSequence: B takes its transaction ID first; A
// appends through the store and commits; B then appends (taking later
// sequence numbers) and commits. B's event comes first, as its transaction
// is older, and A's is not skipped.
func TestXidOrderDiffersFromSequence(t *testing.T) {
	schema := testSchema(t)
	s := openT(t, fast(schema))
	sub := subscribe(t, s, chronicle.Position{})
	ctx := context.Background()

	b := begin(t)
	xb := xid(t, b)
	res := mustAppend(t, s, "a", 1)
	if res.Positions[0].Commit <= xb {
		t.Fatalf("A's transaction %d is not after B's %d", res.Positions[0].Commit, xb)
	}
	sub.quiet(t, 0, 200*time.Millisecond) // A is held back by B's open transaction
	if err := rawAppend(ctx, b, schema, "b", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := sub.waitFor(t, 2, 10*time.Second)
	table := tableOrder(t, schema)
	checkDelivered(t, "subscriber", got, table)
	if streams(got)[0] != "b" || got[0].Position.Prepare < got[1].Position.Prepare {
		t.Fatalf("delivered %v at %v; want B's event first, with the larger sequence number", streams(got), positions(got))
	}
}

// TestRollbackHoles: rolled-back appends leave holes in the transaction
// IDs (and sequence numbers); later appends are delivered without waiting
// on them.
func TestRollbackHoles(t *testing.T) {
	schema := testSchema(t)
	s := openT(t, fast(schema))
	other := openT(t, fast(schema)) // another process's view: no local wake-up
	sub := subscribe(t, other, chronicle.Position{})
	ctx := context.Background()

	mustAppend(t, s, "x", 1)
	sub.waitFor(t, 1, 10*time.Second)
	for range 3 {
		tx := begin(t)
		if err := rawAppend(ctx, tx, schema, "x", 5); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, s, "x", 2)
	got, took := sub.waitFor(t, 3, 10*time.Second)
	t.Logf("delivered past 3 rolled-back appends in %v (poll interval 20ms)", took)
	checkDelivered(t, "subscriber", got, tableOrder(t, schema))
	// The rolled-back transactions took IDs between the two appends (and
	// sequence numbers, though sessions cache those in blocks).
	if got[1].Position.Commit-got[0].Position.Commit < 4 {
		t.Fatalf("no hole of 3 transaction IDs between %v and %v", got[0].Position, got[1].Position)
	}
}

// TestVersionRace: N appends released together with the same exact
// expectation on one stream: exactly one wins, the others fail with
// ErrConflict and leave no rows. 1,000 rounds (100 with -short).
func TestVersionRace(t *testing.T) {
	schema := testSchema(t)
	s := openT(t, &postgres.Options{Schema: schema, MaxConns: 10})
	const writers = 8
	rounds := 1000
	if testing.Short() {
		rounds = 100
	}
	ctx := context.Background()
	for r := range rounds {
		start := make(chan struct{})
		errs := make(chan error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				<-start
				_, err := s.Append(ctx, "race", chronicle.Exactly(int64(2*r)),
					chronicle.EventData{Type: "Won", Data: []byte(fmt.Sprint(w))}, chronicle.EventData{Type: "Won"})
				errs <- err
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, chronicle.ErrConflict):
				t.Fatalf("round %d: %v, want nil or ErrConflict", r, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d appends won, want exactly 1", r, won)
		}
	}
	var n int64
	if err := testPool(t).QueryRow(ctx, "SELECT count(*) FROM "+schema+".events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != int64(2*rounds) {
		t.Fatalf("%d rows after %d rounds of 2 events, want %d", n, rounds, 2*rounds)
	}
	info, err := s.StreamInfo(ctx, "race")
	if err != nil || info.Version != int64(rounds)*2 {
		t.Fatalf("StreamInfo = %+v, %v; want version %d", info, err, 2*rounds)
	}
}

// TestIdempotentRetry: a retried append with the same event IDs succeeds
// and writes nothing; an event whose ID is already in the stream is dropped
// even when its content differs (the first write wins, as documented for
// Store.Append); a batch mixing old and new IDs writes only the new ones.
func TestIdempotentRetry(t *testing.T) {
	schema := testSchema(t)
	s := openT(t, fast(schema))
	ctx := context.Background()
	count := func() int64 {
		var n int64
		if err := testPool(t).QueryRow(ctx, "SELECT count(*) FROM "+schema+".events").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := []chronicle.EventData{{ID: "e1", Type: "A", Data: []byte("one")}, {ID: "e2", Type: "A", Data: []byte("two")}}
	orig, err := s.Append(ctx, "idem", chronicle.NoStream, first...)
	if err != nil || orig.Version != 2 || orig.Written != 2 {
		t.Fatalf("first append: %+v, %v", orig, err)
	}
	for _, tc := range []struct {
		name   string
		expect chronicle.Expectation
		events []chronicle.EventData
	}{
		{"same batch, same expectation", chronicle.NoStream, first},
		{"same batch, any", chronicle.Any, first},
		{"same ID, other content", chronicle.Exactly(7), []chronicle.EventData{{ID: "e1", Type: "B", Data: []byte("changed")}}},
	} {
		res, err := s.Append(ctx, "idem", tc.expect, tc.events...)
		if want := orig.Positions[:len(tc.events)]; err != nil || res.Version != 2 || res.Written != 0 || !slices.Equal(res.Positions, want) {
			t.Fatalf("%s: %+v, %v; want success at version 2, nothing written, positions %v", tc.name, res, err, want)
		}
		if n := count(); n != 2 {
			t.Fatalf("%s: %d rows, want 2", tc.name, n)
		}
	}
	evs := readAllT(t, s, chronicle.Position{})
	if string(evs[0].Data) != "one" || evs[0].Type != "A" {
		t.Fatalf("e1 is now %s %q, want the first write", evs[0].Type, evs[0].Data)
	}
	res, err := s.Append(ctx, "idem", chronicle.Exactly(2), chronicle.EventData{ID: "e2", Type: "A"}, chronicle.EventData{ID: "e3", Type: "A"})
	if err != nil || res.Version != 3 || res.Written != 1 || len(res.Positions) != 2 || res.Positions[0] != orig.Positions[1] || !orig.Positions[1].Before(res.Positions[1]) {
		t.Fatalf("mixed batch: %+v, %v; want version 3, one event written, e2 at %v", res, err, orig.Positions[1])
	}
	// Two stores race to write the same keyed ID: one writes, the other
	// finds it and writes nothing; both report where it is.
	other := openT(t, fast(schema))
	var wg sync.WaitGroup
	results := make([]chronicle.AppendResult, 2)
	for i, st := range []*chronicle.Store{s, other} {
		wg.Go(func() {
			var err error
			if results[i], err = st.Append(ctx, "idem", chronicle.Any, chronicle.EventData{ID: "e4", Type: "A"}); err != nil {
				t.Errorf("racing append: %v", err)
			}
		})
	}
	wg.Wait()
	if n := count(); n != 4 {
		t.Fatalf("%d rows after the race, want 4", n)
	}
	r0, r1 := results[0], results[1]
	if r0.Written+r1.Written != 1 || len(r0.Positions) != 1 || len(r1.Positions) != 1 || r0.Positions[0] != r1.Positions[0] {
		t.Fatalf("racing appends returned %+v and %+v; want one write, both at one position", r0, r1)
	}
	if evs := readAllT(t, other, chronicle.Position{}); len(evs) != 4 || evs[3].ID != "e4" || evs[3].Position != r0.Positions[0] {
		t.Fatalf("the global stream ends with %+v, want e4 at %v", evs[len(evs)-1], r0.Positions[0])
	}
}

// TestLongTransactionStallsDeliveryNotAppends: a writing transaction held
// open for 2 s holds back delivery of later appends, but not the appends
// themselves; once it ends, everything arrives.
func TestLongTransactionStallsDeliveryNotAppends(t *testing.T) {
	schema := testSchema(t)
	s := openT(t, fast(schema))
	other := openT(t, fast(schema))
	local := subscribe(t, s, chronicle.Position{})
	remote := subscribe(t, other, chronicle.Position{})
	ctx := context.Background()

	long := begin(t)
	xid(t, long) // a writing transaction: it has an ID
	opened := time.Now()
	appended := 0
	for time.Since(opened) < 2*time.Second {
		mustAppend(t, s, fmt.Sprint("s", appended%4), 1)
		appended++
		time.Sleep(10 * time.Millisecond)
	}
	// Every append returned while the transaction was open.
	local.quiet(t, 0, 0)
	remote.quiet(t, 0, 0)
	// A global snapshot at a position an append returned is accepted while
	// the frontier is held back: the event exists, it is just not delivered.
	last := mustAppend(t, s, "s0", 1)
	appended++
	if err := s.SaveGlobalSnapshot(ctx, "stalled", last.Positions[0], []byte("x")); err != nil {
		t.Fatalf("global snapshot during the stall: %v", err)
	}
	beyond := last.Positions[0]
	beyond.Prepare++
	if err := s.SaveGlobalSnapshot(ctx, "stalled", beyond, []byte("x")); !errors.Is(err, chronicle.ErrVersionNotReached) {
		t.Fatalf("global snapshot past the newest event: %v, want ErrVersionNotReached", err)
	}
	if err := long.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ended := time.Now()
	var tookLocal, tookRemote time.Duration
	var wg sync.WaitGroup
	wg.Go(func() { local.waitFor(t, appended, 10*time.Second); tookLocal = time.Since(ended) })
	wg.Go(func() { remote.waitFor(t, appended, 10*time.Second); tookRemote = time.Since(ended) })
	wg.Wait()
	t.Logf("%d appends during a 2 s open transaction; all delivered %v (same store) and %v (other store, poll interval 20ms) after it ended",
		appended, tookLocal, tookRemote)
	table := tableOrder(t, schema)
	checkDelivered(t, "same store", local.got(), table)
	checkDelivered(t, "other store", remote.got(), table)
}

// TestResumeAfterRestart: a subscriber that stored the position of the
// last event it handled resumes after a restart with exactly the events
// after it.
func TestResumeAfterRestart(t *testing.T) {
	schema := testSchema(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, testURL(t), fast(schema))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustAppend(t, s, fmt.Sprint("r", i%3), 1+i%4)
	}
	var checkpoint string
	seen := 0
	for ev, err := range s.WatchAll(ctx, chronicle.Position{}, nil) {
		if err != nil {
			t.Fatal(err)
		}
		seen++
		checkpoint = ev.Position.String()
		if seen == 12 {
			break
		}
	}
	for i := range 5 {
		mustAppend(t, s, fmt.Sprint("r", i%3), 2)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, fast(schema))
	from, err := chronicle.ParsePosition(checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	table := tableOrder(t, schema)
	sub := subscribe(t, s, from)
	got, _ := sub.waitFor(t, len(table)-12, 10*time.Second)
	sub.quiet(t, len(table)-12, 100*time.Millisecond)
	checkDelivered(t, "resumed", got, table[12:])
}

// TestListenKilled: the LISTEN connection of a subscribing store is
// terminated mid-run, twice; the store reconnects, and nothing is lost.
// The same load in poll-only mode loses nothing either.
func TestListenKilled(t *testing.T) {
	for _, pollOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("pollOnly=%v", pollOnly), func(t *testing.T) {
			schema := testSchema(t)
			w := fast(schema)
			w.DisableListen = true // only the reader's LISTEN connection is killed
			writer := openT(t, w)
			o := fast(schema)
			o.DisableListen = pollOnly
			reader := openT(t, o)
			sub := subscribe(t, reader, chronicle.Position{})
			ctx := context.Background()
			pool := testPool(t)
			kill := func() {
				var killed int
				err := pool.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "+
					"WHERE query = $1 AND pid <> pg_backend_pid()", `LISTEN "chronicle_`+schema+`"`).Scan(&killed)
				if err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{false: 1, true: 0}[pollOnly]; killed != want {
					t.Fatalf("terminated %d LISTEN connections, want %d", killed, want)
				}
			}
			n := 0
			var worst time.Duration
			for round := range 30 {
				if round == 10 || round == 20 {
					kill()
				}
				mustAppend(t, writer, fmt.Sprint("k", round%5), 1+round%3)
				n += 1 + round%3
				_, took := sub.waitFor(t, n, 10*time.Second)
				worst = max(worst, took)
			}
			t.Logf("%d events; slowest delivery to the other store %v (poll interval 20ms)", n, worst)
			checkDelivered(t, "subscriber", sub.got(), tableOrder(t, schema))
		})
	}
}

// TestStreamOrderUnderContention: many appends race for one stream, with
// every kind of expectation; the stream's versions sit in the global order
// in version order, and a live Watch of the stream delivers every version
// once, in order. (PostgreSQL may give a transaction its ID before it waits
// for a row lock; the store takes its stream lock before the ID.)
func TestStreamOrderUnderContention(t *testing.T) {
	schema := testSchema(t)
	s := openT(t, &postgres.Options{Schema: schema, MaxConns: 20})
	ctx := context.Background()
	mustAppend(t, s, "hot", 1)

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var got []int64
	caught, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for ev, err := range s.Watch(wctx, "hot", 0, &chronicle.WatchOptions{CaughtUp: func() { close(caught) }}) {
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, ev.Version)
			mu.Unlock()
		}
	}()
	<-caught

	const writers = 16
	per := 100
	if testing.Short() {
		per = 25
	}
	expects := []chronicle.Expectation{chronicle.StreamExists, chronicle.Any}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for range per {
				if _, err := s.Append(ctx, "hot", expects[w%2], chronicle.EventData{Type: "E"}, chronicle.EventData{Type: "E"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := 1 + 2*writers*per

	rows, err := testPool(t).Query(ctx, "SELECT version FROM "+schema+".events ORDER BY tx_id, seq")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("the global order holds version %d at place %d (of %d)", v, i+1, len(versions))
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if len(got) != total {
		t.Fatalf("the watch delivered %d of %d versions", len(got), total)
	}
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("the watch delivered version %d at place %d", v, i+1)
		}
	}
}
