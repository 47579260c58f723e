package otelchronicle_test

import (
	"context"
	"fmt"
	"log"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/otelchronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A store that reports its appends as metrics and spans. Here the
// telemetry goes to in-memory readers; a program passes its own
// providers, or none for the global ones.
func Example() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))

	hooks, err := otelchronicle.New(otelchronicle.Options{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		log.Fatal(err)
	}
	store, err := sqlite.Open(ctx, "", &sqlite.Options{Hooks: hooks})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	_, err = store.Append(ctx, "order-1", chronicle.NoStream,
		chronicle.EventData{Type: "OrderPlaced", Data: []byte(`{"total":30}`)},
		chronicle.EventData{Type: "OrderPaid"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = store.Append(ctx, "order-1", chronicle.NoStream, chronicle.EventData{Type: "OrderPlaced"})
	fmt.Println("second append:", otelchronicle.ErrorType(err))

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]: // the append counters
			for _, p := range d.DataPoints {
				if errType, ok := p.Attributes.Value("error.type"); ok {
					fmt.Println(m.Name, "error.type="+errType.Emit(), p.Value)
				} else {
					fmt.Println(m.Name, p.Value)
				}
			}
		case metricdata.Histogram[float64]:
			if m.Name == "chronicle.append.duration" {
				var n uint64
				for _, p := range d.DataPoints { // one per error.type
					n += p.Count
				}
				fmt.Println(m.Name, "appends:", n)
			}
		}
	}
	for _, s := range spans.Ended() {
		fmt.Println("span", s.Name(), s.Status().Code)
	}
	// Output:
	// second append: conflict
	// chronicle.append.duration appends: 2
	// chronicle.append.events 2
	// chronicle.append.bytes 12
	// chronicle.append.errors error.type=conflict 1
	// span chronicle.append Unset
	// span chronicle.append Error
}
