// Command prometheus serves a Chronicle store's metrics to Prometheus
// through OpenTelemetry: the OpenTelemetry SDK with its Prometheus
// exporter, and package otelchronicle's hooks on the store.
//
//	go run ./otelchronicle/examples/prometheus                # serve /metrics, an append a second
//	go run ./otelchronicle/examples/prometheus -once          # append, scrape /metrics once, print, exit
//	go run ./otelchronicle/examples/prometheus -db events.db  # on a file instead of memory
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/otelchronicle"
	"github.com/chronicle-go/chronicle/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("prometheus", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:9464", "address to serve /metrics on")
	path := flags.String("db", "", "SQLite file of the store; empty for memory")
	once := flags.Bool("once", false, "append some events, scrape /metrics once, print the chronicle_ lines and exit")
	if err := flags.Parse(args); err != nil {
		return err
	}

	// The OpenTelemetry SDK, exporting to a Prometheus registry of the
	// program's own (prometheus.DefaultRegisterer would do as well).
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return err
	}
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer meters.Shutdown(context.Background())

	// The store, reporting to it: metrics only here (no tracer).
	hooks, err := otelchronicle.New(otelchronicle.Options{MeterProvider: meters, TracerProvider: tracenoop.NewTracerProvider()})
	if err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, *path, &sqlite.Options{Hooks: hooks})
	if err != nil {
		return err
	}
	defer store.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = server.Serve(ln) }()
	defer server.Close()
	url := "http://" + ln.Addr().String() + "/metrics"

	// A watch of the whole store, running until the program ends.
	watchCtx, endWatch := context.WithCancel(ctx)
	defer endWatch()
	caughtUp := make(chan struct{})
	watched := make(chan error, 1)
	go func() {
		for _, err := range store.WatchAll(watchCtx, chronicle.Position{}, &chronicle.WatchOptions{CaughtUp: func() { close(caughtUp) }}) {
			if err != nil {
				watched <- err
				return
			}
		}
	}()
	select {
	case <-caughtUp:
	case err := <-watched:
		return err
	}

	if *once {
		if err := workload(ctx, store); err != nil {
			return err
		}
		return scrape(ctx, url, out)
	}
	fmt.Fprintf(out, "serving %s; appending an event a second; Ctrl-C to stop\n", url)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if _, err := store.Append(ctx, fmt.Sprintf("order-%d", n%10), chronicle.Any, chronicle.EventData{Type: "OrderPlaced"}); err != nil {
			return err
		}
	}
}

// workload appends to a few streams, runs into a conflict and reads.
func workload(ctx context.Context, store *chronicle.Store) error {
	for i := range 10 {
		_, err := store.Append(ctx, fmt.Sprintf("order-%d", i%5), chronicle.Any,
			chronicle.EventData{Type: "OrderPlaced", Data: []byte(`{"total":30}`)})
		if err != nil {
			return err
		}
	}
	if _, err := store.Append(ctx, "order-0", chronicle.NoStream, chronicle.EventData{Type: "OrderPlaced"}); !errors.Is(err, chronicle.ErrConflict) {
		return fmt.Errorf("want a conflict, got %v", err)
	}
	for _, err := range store.Read(ctx, "order-0", 0, nil) {
		if err != nil {
			return err
		}
	}
	return nil
}

// scrape gets url once and prints its chronicle_ samples, without the
// histograms' buckets.
func scrape(ctx context.Context, url string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if l := lines.Text(); strings.HasPrefix(l, "chronicle_") && !strings.Contains(l, "_bucket{") {
			fmt.Fprintln(out, l)
		}
	}
	return lines.Err()
}
