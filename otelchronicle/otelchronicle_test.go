package otelchronicle_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle"
	"github.com/chronicle-go/chronicle/otelchronicle"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/sqlite"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// bundle is what a test reads the telemetry from.
type bundle struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	hooks  *chronicle.Hooks
}

func setup(t *testing.T, attrs ...attribute.KeyValue) *bundle {
	t.Helper()
	b := &bundle{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(b.reader))
	b.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b.spans))
	t.Cleanup(func() {
		_ = mp.Shutdown(context.Background())
		_ = b.tp.Shutdown(context.Background())
	})
	var err error
	if b.hooks, err = otelchronicle.New(otelchronicle.Options{MeterProvider: mp, TracerProvider: b.tp, Attributes: attrs}); err != nil {
		t.Fatal(err)
	}
	return b
}

// openFile opens a store in a file of the test's that reports to b.
func (b *bundle) openFile(t *testing.T, opts *sqlite.Options) (*chronicle.Store, string) {
	t.Helper()
	var o sqlite.Options
	if opts != nil {
		o = *opts
	}
	o.Hooks = b.hooks
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(t.Context(), path, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// metrics collects every metric, by name.
func (b *bundle) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := b.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelchronicle.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// key renders attributes given as "k=v" as attrs does.
func key(kv ...string) string {
	kv = slices.Clone(kv)
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

// attrs renders a set as "k=v,k=v" in key order, for comparisons.
func attrs(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.Emit())
	}
	return strings.Join(parts, ",")
}

// points returns the value of every data point of m, by attributes: a
// sum's or gauge's value, or a histogram's count.
func points(t *testing.T, m metricdata.Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	switch d := m.Data.(type) {
	case nil: // not recorded yet
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out[attrs(p.Attributes)] = float64(p.Value)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out[attrs(p.Attributes)] = float64(p.Value)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			out[attrs(p.Attributes)] = p.Value
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out[attrs(p.Attributes)] = float64(p.Count)
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			out[attrs(p.Attributes)] = float64(p.Count)
		}
	default:
		t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
	}
	return out
}

// histSum returns the sum of a histogram's data points with attributes at.
func histSum[N int64 | float64](t *testing.T, m metricdata.Metrics, at string) N {
	t.Helper()
	h, ok := m.Data.(metricdata.Histogram[N])
	if !ok {
		t.Fatalf("%s: %T is not a histogram", m.Name, m.Data)
	}
	for _, p := range h.DataPoints {
		if attrs(p.Attributes) == at {
			return p.Sum
		}
	}
	t.Fatalf("%s: no data point with %s", m.Name, at)
	return 0
}

func TestMetrics(t *testing.T) {
	b := setup(t)
	s, path := b.openFile(t, &sqlite.Options{PageSize: 2})
	ctx := t.Context()
	at := func(kv ...string) string { return key(append(kv, "db.namespace="+path, "db.system.name=sqlite")...) }
	db := at()
	failed := func(typ string) string { return at("error.type=" + typ) }

	events := []chronicle.EventData{
		{ID: "a", Type: "T", Data: []byte("12345"), Metadata: []byte(`{"k":"v"}`)},
		{ID: "b", Type: "T", Data: []byte("678")},
		{ID: "b", Type: "T", Data: []byte("678")}, // repeats b: stored once
	}
	if _, err := s.Append(ctx, "s-1", chronicle.NoStream, events...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s-1", chronicle.NoStream, events[:2]...); err != nil { // a retry
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s-1", chronicle.Exactly(9), chronicle.EventData{Type: "T"}); !errors.Is(err, chronicle.ErrConflict) {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "s-1", chronicle.Any, chronicle.EventData{}); !errors.Is(err, chronicle.ErrInvalid) {
		t.Fatal(err)
	}
	if err := drainErr(s.Read(ctx, "s-1", 0, nil)); err != nil { // pages of 2, 0
		t.Fatal(err)
	}
	if err := drainErr(s.ReadAll(ctx, chronicle.Position{}, nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(ctx, "s-1", "", 2, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadSnapshot(ctx, "s-1", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(ctx, "s-1", "", 7, nil); !errors.Is(err, chronicle.ErrVersionNotReached) {
		t.Fatal(err)
	}

	m := b.metrics(t)
	for _, tc := range []struct {
		metric string
		want   map[string]float64
	}{
		{"chronicle.append.duration", map[string]float64{db: 2, failed("conflict"): 1, failed("invalid"): 1}},
		{"chronicle.append.events", map[string]float64{db: 2}},
		{"chronicle.append.duplicates", map[string]float64{db: 3}}, // the repeat, then the retry's two
		{"chronicle.append.bytes", map[string]float64{db: 5 + 9 + 3 + 3 + 5 + 9 + 3}},
		{"chronicle.append.errors", map[string]float64{failed("conflict"): 1, failed("invalid"): 1}},
		{"chronicle.read.duration", map[string]float64{
			at("chronicle.read.target=stream", "chronicle.read.watch=false"): 2,
			at("chronicle.read.target=all", "chronicle.read.watch=false"):    2,
		}},
		{"chronicle.read.events", map[string]float64{
			at("chronicle.read.target=stream", "chronicle.read.watch=false"): 2,
			at("chronicle.read.target=all", "chronicle.read.watch=false"):    2,
		}},
		{"chronicle.snapshot.duration", map[string]float64{
			at("chronicle.snapshot.operation=save"):                                   1,
			at("chronicle.snapshot.operation=load"):                                   1,
			at("chronicle.snapshot.operation=save", "error.type=version_not_reached"): 1,
		}},
		// Two appends wrote (the first, and the snapshot save), each a
		// group of its own.
		{"chronicle.group_commit.duration", map[string]float64{db: 2}},
		{"chronicle.group_commit.appends", map[string]float64{db: 2}},
	} {
		t.Run(tc.metric, func(t *testing.T) {
			got, ok := m[tc.metric]
			if !ok {
				t.Fatalf("no metric %s", tc.metric)
			}
			p := points(t, got)
			if fmt.Sprint(p) != fmt.Sprint(tc.want) {
				t.Errorf("got %v\nwant %v", p, tc.want)
			}
		})
	}
	if got := histSum[int64](t, m["chronicle.group_commit.events"], db); got != 2 {
		t.Errorf("group commits wrote %d events, want 2", got)
	}
	if got := histSum[int64](t, m["chronicle.group_commit.appends"], db); got != 1 {
		t.Errorf("group commits held %d appends, want 1 (and a snapshot)", got)
	}
	if p := points(t, m["chronicle.wal.size"]); p[db] <= 0 {
		t.Errorf("WAL size %v, want a positive size", p)
	}
	for name, want := range map[string]string{
		"chronicle.append.duration": "s", "chronicle.append.bytes": "By", "chronicle.append.events": "{event}",
	} {
		if got := m[name].Unit; got != want {
			t.Errorf("%s: unit %q, want %q", name, got, want)
		}
	}
}

func drainErr(seq func(func(chronicle.Event, error) bool)) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestSpans: appends, page reads and snapshot calls each get a span, child
// of the caller's, with their attributes, and no payload anywhere.
func TestSpans(t *testing.T) {
	b := setup(t, attribute.String("service.store", "orders"))
	s, err := sqlite.Open(t.Context(), "", &sqlite.Options{Hooks: b.hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, parent := b.tp.Tracer("test").Start(t.Context(), "command")
	const secret = "SECRET-PAYLOAD"
	if _, err := s.Append(ctx, "order-1", chronicle.Exactly(0),
		chronicle.EventData{Type: "Placed", Data: []byte(secret), Metadata: []byte(`{"x":"` + secret + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "order-1", chronicle.Exactly(0), chronicle.EventData{Type: "Placed"}); err == nil {
		t.Fatal("no conflict")
	}
	if err := drainErr(s.Read(ctx, "order-1", 0, nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(ctx, "order-1", "totals", 1, []byte(secret)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoadSnapshot(ctx, "order-1", "totals"); err != nil {
		t.Fatal(err)
	}
	parent.End()

	type want struct {
		name   string
		status codes.Code
		attrs  map[string]string
	}
	wants := []want{
		{"chronicle.append", codes.Unset, map[string]string{"chronicle.stream": "order-1", "chronicle.append.expect": "exactly",
			"chronicle.append.expected_version": "0", "chronicle.append.events": "1", "chronicle.append.bytes": fmt.Sprint(len(secret)*2 + 8),
			"chronicle.append.written": "1", "chronicle.append.version": "1", "db.system.name": "sqlite", "db.operation.name": "append",
			"service.store": "orders"}},
		{"chronicle.append", codes.Error, map[string]string{"chronicle.stream": "order-1", "error.type": "conflict", "chronicle.append.events": "1"}},
		{"chronicle.read", codes.Unset, map[string]string{"chronicle.stream": "order-1", "chronicle.read.from": "0", "chronicle.read.events": "1",
			"chronicle.read.limit": "512", "chronicle.read.watch": "false", "db.operation.name": "read_stream"}},
		{"chronicle.snapshot.save", codes.Unset, map[string]string{"chronicle.stream": "order-1", "chronicle.snapshot.name": "totals",
			"chronicle.snapshot.version": "1", "chronicle.snapshot.bytes": fmt.Sprint(len(secret))}},
		{"chronicle.snapshot.load", codes.Unset, map[string]string{"chronicle.snapshot.found": "true", "chronicle.snapshot.version": "1"}},
	}
	var spans []sdktrace.ReadOnlySpan
	for _, sp := range b.spans.Ended() {
		if sp.Name() != "command" {
			spans = append(spans, sp)
		}
	}
	if len(spans) != len(wants) {
		t.Fatalf("%d spans, want %d", len(spans), len(wants))
	}
	for i, w := range wants {
		sp := spans[i]
		got := map[string]string{}
		for _, kv := range sp.Attributes() {
			got[string(kv.Key)] = kv.Value.Emit()
			if strings.Contains(kv.Value.Emit(), secret) {
				t.Errorf("span %s: attribute %s holds the payload", sp.Name(), kv.Key)
			}
		}
		if sp.Name() != w.name || sp.Status().Code != w.status {
			t.Errorf("span %d: %s (%v), want %s (%v)", i, sp.Name(), sp.Status().Code, w.name, w.status)
		}
		for k, v := range w.attrs {
			if got[k] != v {
				t.Errorf("span %d %s: %s = %q, want %q", i, sp.Name(), k, got[k], v)
			}
		}
		if sp.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d %s is not a child of the caller's span", i, sp.Name())
		}
		if strings.Contains(sp.Status().Description, secret) {
			t.Errorf("span %s: status holds the payload", sp.Name())
		}
	}
}

// TestWatchMetrics: a watch counts as active while it runs, and reports its
// lag as it catches up and live.
func TestWatchMetrics(t *testing.T) {
	b := setup(t)
	s, err := sqlite.Open(t.Context(), "", &sqlite.Options{PageSize: 2, Hooks: b.hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range 3 {
		if _, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "T", Time: time.Now().Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	caughtUp := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, err := range s.WatchAll(ctx, chronicle.Position{}, &chronicle.WatchOptions{CaughtUp: func() { close(caughtUp) }}) {
			if err != nil {
				return
			}
		}
	})
	<-caughtUp
	at := func(kv ...string) string { return key(append(kv, "db.system.name=sqlite")...) }
	active := at("chronicle.watch.target=all")
	if p := points(t, b.metrics(t)["chronicle.watch.active"]); p[active] != 1 {
		t.Errorf("active watches %v while one runs", p)
	}
	if _, err := s.Append(ctx, "s", chronicle.Any, chronicle.EventData{Type: "T"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	live := at("chronicle.watch.target=all", "chronicle.watch.live=true")
	for points(t, b.metrics(t)["chronicle.watch.lag"])[live] == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	m := b.metrics(t)
	if p := points(t, m["chronicle.watch.active"]); p[active] != 0 {
		t.Errorf("active watches %v after it ended", p)
	}
	history := at("chronicle.watch.target=all", "chronicle.watch.live=false")
	if p := points(t, m["chronicle.watch.lag"]); p[history] != 2 || p[live] != 1 {
		t.Errorf("lag reports %v, want 2 pages of history and 1 live", p)
	}
	if lag := histSum[float64](t, m["chronicle.watch.lag"], history); lag < 100 {
		t.Errorf("history lag %vs in all, want two minutes", lag)
	}
	if behind := histSum[int64](t, m["chronicle.watch.lag.events"], history); behind != 3+1 {
		t.Errorf("history %d events behind in all, want 3 then 1", behind)
	}
}

// TestCheckpointMetrics: a store that writes past SQLite's checkpoint
// threshold reports its checkpoints, and the time they held its writes.
func TestCheckpointMetrics(t *testing.T) {
	b := setup(t)
	s, path := b.openFile(t, nil)
	data := make([]byte, 16<<10)
	for i := range 400 { // 6 MiB: past 1,000 pages of 4 KiB
		if _, err := s.Append(t.Context(), fmt.Sprint("s-", i%4), chronicle.Any, chronicle.EventData{Type: "Big", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	background := key("chronicle.checkpoint.mode=background", "db.namespace="+path, "db.system.name=sqlite")
	deadline := time.Now().Add(10 * time.Second)
	for points(t, b.metrics(t)["chronicle.checkpoint.duration"])[background] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint reported: %v", points(t, b.metrics(t)["chronicle.checkpoint.duration"]))
		}
		time.Sleep(10 * time.Millisecond)
	}
	held := points(t, b.metrics(t)["chronicle.checkpoint.held"])
	if held[background]+held[key("chronicle.checkpoint.mode=inline", "db.namespace="+path, "db.system.name=sqlite")] == 0 {
		t.Fatalf("no checkpoint reported holding writes: %v", held)
	}
}

func TestErrorType(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&chronicle.ConflictError{Stream: "s"}, "conflict"},
		{fmt.Errorf("append: %w", &chronicle.ValidationError{Field: "f"}), "invalid"},
		{chronicle.ErrBusy, "busy"},
		{fmt.Errorf("postgres: %w: dial: refused", chronicle.ErrUnavailable), "unavailable"},
		{chronicle.ErrClosed, "closed"},
		{fmt.Errorf("x: %w", chronicle.ErrStorageFull), "storage_full"},
		{chronicle.ErrReadOnly, "read_only"},
		{chronicle.ErrVersionNotReached, "version_not_reached"},
		{context.Canceled, "canceled"},
		{fmt.Errorf("read: %w", context.DeadlineExceeded), "deadline_exceeded"},
		{errors.New("disk on fire"), "other"},
	} {
		if got := otelchronicle.ErrorType(tc.err); got != tc.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestProjectionMetrics: a projection's batches report their events, lag
// (in time and in events) and duration, by projection name and version.
func TestProjectionMetrics(t *testing.T) {
	b := setup(t)
	s, err := sqlite.Open(t.Context(), "", &sqlite.Options{Hooks: b.hooks})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runner, err := projection.New(s, &projection.Options{Logger: slog.New(slog.DiscardHandler)}, projection.Projection{
		Name: "counts", Version: 3,
		SQL: func(context.Context, *sql.Tx, projection.Batch) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- runner.Run(ctx) }()
	defer func() { stop(); <-done }()
	var last chronicle.Position
	for range 3 {
		res, err := s.Append(t.Context(), "s", chronicle.Any, chronicle.EventData{Type: "T", Time: time.Now().Add(-time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Positions[0]
	}
	if err := runner.WaitFor(t.Context(), last, "counts"); err != nil {
		t.Fatal(err)
	}
	at := key("chronicle.projection.name=counts", "chronicle.projection.version=3", "db.system.name=sqlite")
	m := b.metrics(t)
	if p := points(t, m["chronicle.projection.events"]); p[at] != 3 {
		t.Errorf("projection events %v, want 3 at %s", p, at)
	}
	if p := points(t, m["chronicle.projection.lag"]); p[at] < 1 {
		t.Errorf("projection lag %v, want at least the events' second", p)
	}
	if p := points(t, m["chronicle.projection.lag.events"]); len(p) != 1 || p[at] != 0 {
		t.Errorf("projection lag in events %v, want 0 at %s once caught up", p, at)
	}
	if p := points(t, m["chronicle.projection.batch.duration"]); p[at] < 1 {
		t.Errorf("projection batches %v, want at least one", p)
	}
}
