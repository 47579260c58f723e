package chronicle_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/sqlite"
)

func Example() {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, "", nil) // "" = in memory; pass a path for a file
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	res, err := store.Append(ctx, "order-42", chronicle.NoStream,
		chronicle.EventData{Type: "OrderPlaced", Data: []byte(`{"total":30}`)},
		chronicle.EventData{Type: "OrderPaid"},
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("version", res.Version)

	for ev, err := range store.Read(ctx, "order-42", 0, nil) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Version, ev.Type)
	}
	// Output:
	// version 2
	// 1 OrderPlaced
	// 2 OrderPaid
}

func ExampleStore_Append_expectedVersion() {
	ctx := context.Background()
	store, _ := sqlite.Open(ctx, "", nil)
	defer store.Close()

	_, _ = store.Append(ctx, "account-7", chronicle.Any, chronicle.EventData{Type: "Opened"})

	// Another writer got there first: the stream is at 1, not 0.
	_, err := store.Append(ctx, "account-7", chronicle.Exactly(0), chronicle.EventData{Type: "Deposited"})
	var conflict *chronicle.ConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict:", conflict.Stream, "is at", conflict.Actual)
	}
	fmt.Println(errors.Is(err, chronicle.ErrConflict))
	// Output:
	// conflict: account-7 is at 1
	// true
}

func ExampleStore_Append_idempotent() {
	ctx := context.Background()
	store, _ := sqlite.Open(ctx, "", nil)
	defer store.Close()

	ev := chronicle.EventData{ID: "payment-9f1c", Type: "PaymentReceived"}
	first, _ := store.Append(ctx, "invoice-3", chronicle.NoStream, ev)
	// The reply was lost and the caller retries with the same expectation:
	// nothing is written twice, and the retry succeeds with the position
	// the event was stored at, which the caller can wait for.
	retry, err := store.Append(ctx, "invoice-3", chronicle.NoStream, ev)
	fmt.Println(first.Version, retry.Version, first.Written, retry.Written, err)
	fmt.Println(slices.Equal(retry.Positions, first.Positions))
	// Output:
	// 1 1 1 0 <nil>
	// true
}

func ExampleStore_Read_backwards() {
	ctx := context.Background()
	store, _ := sqlite.Open(ctx, "", nil)
	defer store.Close()
	for i := range 5 {
		_, _ = store.Append(ctx, "log", chronicle.Any, chronicle.EventData{Type: fmt.Sprint("E", i+1)})
	}

	// The last two events, newest first.
	for ev, err := range store.Read(ctx, "log", 0, &chronicle.ReadOptions{Backwards: true, Limit: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Version, ev.Type)
	}
	// Output:
	// 5 E5
	// 4 E4
}

func ExampleStore_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, _ := sqlite.Open(ctx, "", nil)
	defer store.Close()
	_, _ = store.Append(ctx, "chat", chronicle.Any, chronicle.EventData{Type: "Joined"})

	caughtUp := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		opts := &chronicle.WatchOptions{CaughtUp: func() { close(caughtUp) }}
		for ev, err := range store.Watch(ctx, "chat", 0, opts) {
			if err != nil {
				return // ctx cancelled or store closed
			}
			fmt.Println(ev.Version, ev.Type)
			if ev.Version == 2 {
				return
			}
		}
	}()
	<-caughtUp // history delivered; now append a live event
	_, _ = store.Append(ctx, "chat", chronicle.Any, chronicle.EventData{Type: "Said"})
	<-done
	// Output:
	// 1 Joined
	// 2 Said
}

func ExampleStore_ReadAll_filter() {
	ctx := context.Background()
	store, _ := sqlite.Open(ctx, "", nil)
	defer store.Close()
	_, _ = store.Append(ctx, "user-1", chronicle.Any, chronicle.EventData{Type: "Registered", Metadata: []byte(`{"tenant":{"id":"acme"}}`)})
	_, _ = store.Append(ctx, "user-2", chronicle.Any, chronicle.EventData{Type: "Registered", Metadata: []byte(`{"tenant":{"id":"globex"}}`)})
	_, _ = store.Append(ctx, "order-1", chronicle.Any, chronicle.EventData{Type: "Placed", Metadata: []byte(`{"tenant":{"id":"acme"}}`)})

	filter := chronicle.Filter{chronicle.StreamPrefix("user-"), chronicle.MetadataIs("tenant.id", "acme")}
	for ev, err := range store.ReadAll(ctx, chronicle.Position{}, &chronicle.ReadOptions{Filter: filter}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.Position, ev.Stream, ev.Type)
	}
	// Output:
	// 1 user-1 Registered
}

func ExampleStore_SaveSnapshot() {
	ctx := context.Background()
	store, _ := sqlite.Open(ctx, "", nil)
	defer store.Close()
	for range 3 {
		_, _ = store.Append(ctx, "counter", chronicle.Any, chronicle.EventData{Type: "Incremented"})
	}
	_ = store.SaveSnapshot(ctx, "counter", "count", 3, []byte("3"))
	_, _ = store.Append(ctx, "counter", chronicle.Any, chronicle.EventData{Type: "Incremented"})

	snap, found, _ := store.LoadSnapshot(ctx, "counter", "count")
	fmt.Println(found, snap.Version, string(snap.State))
	for ev := range store.Read(ctx, "counter", snap.Version, nil) {
		fmt.Println("then", ev.Version, ev.Type)
	}
	_, found, _ = store.LoadSnapshot(ctx, "counter", "another-model")
	fmt.Println(found)
	// Output:
	// true 3 3
	// then 4 Incremented
	// false
}

func ExampleParsePosition() {
	p := chronicle.At(1042)
	saved := p.String() // e.g. stored as a projection's checkpoint
	back, err := chronicle.ParsePosition(saved)
	fmt.Println(saved, back == p, err)
	// Output:
	// 1042 true <nil>
}

// Hooks see what the store does without a telemetry library: here, counts
// of appends and of conflicts, and the events written. Package
// otelchronicle fills them with OpenTelemetry metrics and spans instead.
func ExampleHooks() {
	ctx := context.Background()
	var appends, conflicts, written int
	hooks := &chronicle.Hooks{
		// Called for every Append, from the caller's goroutine: a real
		// hook must be safe for concurrent use (atomics, a metrics
		// library); this example appends from one goroutine.
		AppendDone: func(_ context.Context, info chronicle.AppendDoneInfo) {
			appends++
			if errors.Is(info.Err, chronicle.ErrConflict) {
				conflicts++
			}
			written += info.Result.Written
		},
	}
	store, err := sqlite.Open(ctx, "", &sqlite.Options{Hooks: hooks})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	if _, err := store.Append(ctx, "order-7", chronicle.NoStream, chronicle.EventData{Type: "OrderPlaced"}); err != nil {
		log.Fatal(err)
	}
	// The stream exists now: this one conflicts and writes nothing.
	_, err = store.Append(ctx, "order-7", chronicle.NoStream, chronicle.EventData{Type: "OrderPlaced"})
	fmt.Println("conflict:", errors.Is(err, chronicle.ErrConflict))
	fmt.Println("appends", appends, "conflicts", conflicts, "written", written)
	// Output:
	// conflict: true
	// appends 2 conflicts 1 written 1
}
