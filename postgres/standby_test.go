package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/postgres"
)

// TestHotStandbyOrder: stores that read from a real hot standby
// (Options.ReplicaURL) deliver the global stream exactly as a store on the
// primary does, while 8 writers append concurrently and a raw transaction
// commits out of order: every row once, in order, on each subscriber.
func TestHotStandbyOrder(t *testing.T) {
	testURL(t)
	replica := testReplicaURL(t)
	schema := testSchema(t)
	primary := openT(t, fast(schema))
	onReplica := func(listen bool) *postgres.Options {
		o := fast(schema)
		o.ReplicaURL = replica
		o.DisableListen = !listen
		return o
	}
	writer := openT(t, onReplica(true)) // appends to the primary, reads the standby
	reader := openT(t, onReplica(true)) // another process, notified by LISTEN
	poller := openT(t, onReplica(false))
	subs := map[string]*subscriber{
		"primary":           subscribe(t, primary, chronicle.Position{}),
		"writer on standby": subscribe(t, writer, chronicle.Position{}),
		"reader on standby": subscribe(t, reader, chronicle.Position{}),
		"poller on standby": subscribe(t, poller, chronicle.Position{}),
	}

	ctx := context.Background()
	held := begin(t)
	if err := rawAppend(ctx, held, schema, "held", 3); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				store := writer
				if i%2 == 1 {
					store = primary
				}
				mustAppend(t, store, fmt.Sprint("s", (w+i)%5), 1+i%4)
				if i == 0 {
					// A read right after an append sees it, although the
					// store reads from the standby.
					evs := readStreamT(t, writer, fmt.Sprint("s", w%5))
					if len(evs) == 0 {
						t.Errorf("writer %d: its append is not visible on the standby", w)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := held.Commit(ctx); err != nil { // older than every append above
		t.Fatal(err)
	}
	ended := time.Now()
	table := tableOrder(t, schema)
	for name, sub := range subs {
		sub.waitFor(t, len(table), 10*time.Second)
		t.Logf("%s: %d events, all delivered %v after the last commit", name, len(table), time.Since(ended))
	}
	for name, sub := range subs {
		sub.quiet(t, len(table), 50*time.Millisecond)
		checkDelivered(t, name, sub.got(), table)
	}
}

func readStreamT(t testing.TB, s *chronicle.Store, stream string) []chronicle.Event {
	t.Helper()
	var out []chronicle.Event
	for ev, err := range s.Read(context.Background(), stream, 0, nil) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}
