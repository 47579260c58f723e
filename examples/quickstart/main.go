// Command quickstart shows Chronicle's main flows on the embedded SQLite
// store: append with an expected version, read, watch (history then live),
// the global stream with a filter, and snapshots.
//
//	go run ./examples/quickstart            # in memory
//	go run ./examples/quickstart events.db  # in a file, kept across runs
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		log.Fatal(err)
	}
}

// counter is a tiny read model: the state folded from a stream's events.
type counter struct{ Count int }

func (c *counter) apply(ev chronicle.Event) {
	switch ev.Type {
	case "Incremented":
		c.Count++
	case "Decremented":
		c.Count--
	}
}

func run(ctx context.Context, args []string) error {
	path := "" // in memory
	if len(args) > 0 {
		path = args[0]
	}
	store, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		return err
	}
	defer store.Close()

	// 1. Write: append events, expecting the stream's current version.
	info, err := store.StreamInfo(ctx, "counter-1")
	if err != nil {
		return err
	}
	res, err := store.Append(ctx, "counter-1", chronicle.Exactly(info.Version),
		chronicle.EventData{Type: "Incremented", Metadata: json.RawMessage(`{"tenant":{"id":"acme"}}`)},
		chronicle.EventData{Type: "Incremented", Metadata: json.RawMessage(`{"tenant":{"id":"acme"}}`)},
		chronicle.EventData{Type: "Decremented", Metadata: json.RawMessage(`{"tenant":{"id":"acme"}}`)},
	)
	if err != nil {
		return err
	}
	fmt.Printf("write:    counter-1 is at version %d (positions %v)\n", res.Version, res.Positions)

	// A stale expectation is refused, and nothing is written.
	_, err = store.Append(ctx, "counter-1", chronicle.Exactly(info.Version), chronicle.EventData{Type: "Incremented"})
	var conflict *chronicle.ConflictError
	if errors.As(err, &conflict) {
		fmt.Printf("conflict: expected %s, stream is at %d\n", conflict.Expected, conflict.Actual)
	}

	// 2. Read: fold the stream into state.
	var state counter
	for ev, err := range store.Read(ctx, "counter-1", 0, nil) {
		if err != nil {
			return err
		}
		state.apply(ev)
	}
	fmt.Printf("read:     count = %d after %d events\n", state.Count, res.Version)

	// 3. Watch: history first, then live events as they are appended.
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	caughtUp := make(chan struct{})
	watched := make(chan string)
	go func() {
		defer close(watched)
		opts := &chronicle.WatchOptions{CaughtUp: func() { close(caughtUp) }}
		for ev, err := range store.Watch(watchCtx, "counter-1", res.Version-1, opts) {
			if err != nil {
				return // ctx cancelled
			}
			watched <- fmt.Sprintf("version %d %s", ev.Version, ev.Type)
		}
	}()
	fmt.Printf("watch:    %s (history)\n", <-watched)
	<-caughtUp
	if _, err := store.Append(ctx, "counter-1", chronicle.Any, chronicle.EventData{Type: "Incremented"}); err != nil {
		return err
	}
	fmt.Printf("watch:    %s (live)\n", <-watched)
	stop()
	for range watched {
	}

	// 4. The global stream, filtered by metadata inside the database.
	filter := chronicle.Filter{chronicle.MetadataIs("tenant.id", "acme"), chronicle.TypeIs("Incremented")}
	n := 0
	for _, err := range store.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Filter: filter}) {
		if err != nil {
			return err
		}
		n++
	}
	fmt.Printf("global:   %d Incremented events for tenant acme\n", n)

	// 5. Snapshot: save the folded state, then rebuild from it plus the
	// events after it.
	state = counter{}
	var version int64
	for ev, err := range store.Read(ctx, "counter-1", 0, nil) {
		if err != nil {
			return err
		}
		state.apply(ev)
		version = ev.Version
	}
	blob, _ := json.Marshal(state)
	if err := store.SaveSnapshot(ctx, "counter-1", "counter", version, blob); err != nil {
		return err
	}
	if _, err := store.Append(ctx, "counter-1", chronicle.Any, chronicle.EventData{Type: "Incremented"}); err != nil {
		return err
	}
	snap, found, err := store.LoadSnapshot(ctx, "counter-1", "counter")
	if err != nil || !found {
		return fmt.Errorf("load snapshot: found=%v err=%v", found, err)
	}
	var restored counter
	if err := json.Unmarshal(snap.State, &restored); err != nil {
		return err
	}
	for ev, err := range store.Read(ctx, "counter-1", snap.Version, nil) {
		if err != nil {
			return err
		}
		restored.apply(ev)
	}
	fmt.Printf("snapshot: restored at version %d, count now %d\n", snap.Version, restored.Count)
	return nil
}
