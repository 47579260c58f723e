package aggregate_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/registry"
	"github.com/chronicle-go/chronicle/sqlite"
)

// Counter is a state that evolves and decides itself.
type Counter struct{ N int }

// Incremented is its one event; Inc is its one command.
type (
	Incremented struct{ By int }
	Inc         struct{ By int }
)

func (c Counter) Evolve(e Incremented) Counter { c.N += e.By; return c }

func (c Counter) Decide(_ context.Context, cmd Inc) ([]Incremented, error) {
	if c.N+cmd.By > 10 {
		return nil, errors.New("the counter stops at 10")
	}
	return []Incremented{{By: cmd.By}}, nil
}

func Example() {
	ctx := context.Background()
	store, _ := sqlite.Open(ctx, "", nil)
	defer store.Close()
	reg := registry.New(nil)
	registry.MustRegister[Incremented](reg, "Incremented")

	counters, _ := aggregate.New(store, aggregate.Options[Counter, Inc, Incremented]{Category: "counter", Registry: reg})
	defer counters.Close()

	res, _ := counters.Handle(ctx, "a", "request-1", Inc{By: 4})
	fmt.Println(res.State.N, res.Version)
	// The same request again (its reply was lost): same outcome, nothing written.
	res, _ = counters.Handle(ctx, "a", "request-1", Inc{By: 4})
	fmt.Println(res.Duplicate, res.Version)
	_, err := counters.Handle(ctx, "a", "request-2", Inc{By: 7})
	fmt.Println(err)
	// Output:
	// 4 1
	// true 1
	// aggregate: counter-a: the counter stops at 10
}
