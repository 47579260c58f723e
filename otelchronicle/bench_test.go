package otelchronicle_test

import (
	"context"
	"testing"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/otelchronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// nopBackend stores nothing: Append only numbers the events, so that a
// benchmark on it measures the store's own work and the hooks'.
type nopBackend struct {
	chronicle.Backend // the other methods are not called
	head              uint64
}

func (b *nopBackend) Append(_ context.Context, p *chronicle.AppendParams) (chronicle.AppendResult, error) {
	res := chronicle.AppendResult{Positions: make([]chronicle.Position, len(p.Events)), Written: len(p.Events)}
	for i := range res.Positions {
		b.head++
		res.Positions[i] = chronicle.At(b.head)
	}
	return res, nil
}

func (b *nopBackend) WatchChanges(ctx context.Context, _ func()) { <-ctx.Done() }
func (b *nopBackend) Close() error                               { return nil }

// BenchmarkAppend measures an append without hooks and with this
// package's, on a backend that does nothing (the hooks' cost alone) and on
// an in-memory SQLite store:
//
//	go test -run '^$' -bench Append -benchtime 100000x -count 3 ./otelchronicle/
func BenchmarkAppend(b *testing.B) {
	metricsOnly := func() *chronicle.Hooks {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		h, err := otelchronicle.New(otelchronicle.Options{MeterProvider: mp, TracerProvider: tracenoop.NewTracerProvider()})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	traced := func() *chronicle.Hooks {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		// Every span sampled and recorded, exported nowhere.
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
		h, err := otelchronicle.New(otelchronicle.Options{MeterProvider: mp, TracerProvider: tp})
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	ev := chronicle.EventData{Type: "OrderPlaced", Data: []byte(`{"total":30}`)}
	for _, backend := range []string{"nop", "sqlite"} {
		for _, bc := range []struct {
			name  string
			hooks func() *chronicle.Hooks
		}{
			{"off", func() *chronicle.Hooks { return nil }},
			{"metrics", metricsOnly},
			{"metrics+traces", traced},
		} {
			b.Run(backend+"/"+bc.name, func(b *testing.B) {
				var s *chronicle.Store
				var err error
				if backend == "nop" {
					s, err = chronicle.New(&nopBackend{}, &chronicle.Options{Hooks: bc.hooks()})
				} else {
					s, err = sqlite.Open(context.Background(), "", &sqlite.Options{Hooks: bc.hooks()})
				}
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx := context.Background()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					i++
					if _, err := s.Append(ctx, "order-"+string(rune('a'+i%16)), chronicle.Any, ev); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
